// Vocab-parallel embedding lookup and learned positions.
#pragma once

#include "core/types.hpp"

namespace zoptimus {

// out(t, :) = table(tokens(t) - vocab_offset, :) when the token's row is held locally
// (vocab_offset <= token < vocab_offset + valid_rows), else 0. Summing `out` over the ranks
// that split the vocabulary gives the full lookup.
void embedding_partial(ConstTokenVector tokens, ConstMatrix table, int vocab_offset, int valid_rows,
                       Matrix out);

// x(t, :) += positions(t % seq + offset, :) (OPT stores learned positions with offset 2).
void add_positions(Matrix x, ConstMatrix positions, int seq, int offset);

}  // namespace zoptimus
