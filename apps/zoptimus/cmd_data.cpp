// `zoptimus data ...`: builds an HDF5 token dataset from text, TSV or raw int32 token files.
//
//   zoptimus data --task lm --seq-len 64 --validation-fraction 0.1 --out FILE.h5 TEXT...
//   zoptimus data --task classification --seq-len 32 --labels "negative,positive" --out FILE.h5 TSV
//                 [--label-words "n|p"]   (one character per label; default: the initials)
//   zoptimus data --task lm --tokens --vocab V --tokenizer NAME --pad ID [--bos ID --eos ID]
//                 --seq-len 64 --out FILE.h5 TOKENS.i32...
//   zoptimus data --task classification --tokens --label-words ID,ID ... ROWS.i32...
//   ... [--validation FILE...] [--test FILE...]   (instead of --validation-fraction)
//
// --tokens is how ids from another tokenizer (scripts/make_dataset.py: Hugging Face
// tokenizers) get into a dataset, so that this one writer makes every dataset file.
// Rank 0 reads the inputs and writes the file; every rank ends with the same status.
#include <mpi.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "core/log.hpp"
#include "io/dataset_batch_source.hpp"
#include "io/token_dataset.hpp"
#include "io/token_dataset_writer.hpp"
#include "io/tokenizer_bytes.hpp"
#include "parallel/broadcast_string.hpp"
#include "parallel/collective_guard.hpp"

namespace zoptimus::app {

namespace {

struct DataOptions {
  std::string task = "lm";
  int seq_len = 32;
  double validation_fraction = 0.1;
  std::string labels;
  std::string out;
  bool force = false;
  bool tokens = false;
  // --tokens: the tokenizer the ids come from (defaults: bytes-v1).
  std::int64_t vocab = bytes_v1::kVocab;
  std::string tokenizer = bytes_v1::kName;
  std::int64_t bos = bytes_v1::kBos, eos = bytes_v1::kEos, pad = bytes_v1::kPad;
  std::string label_word_ids;
  std::vector<std::string> inputs, validation, test;
};

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("input file '{}': no such file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("input file '{}': cannot open it for reading", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

// Documents of a text file: paragraphs separated by blank lines (lines joined with '\n').
std::vector<std::string> read_documents(const std::string& path) {
  std::vector<std::string> docs;
  std::string current;
  for (const std::string& line : split_lines(read_file(path))) {
    if (blank(line)) {
      if (!current.empty()) docs.push_back(current);
      current.clear();
    } else {
      current += current.empty() ? line : "\n" + line;
    }
  }
  if (!current.empty()) docs.push_back(current);
  if (docs.empty()) fail("input file '{}' holds no text", path);
  return docs;
}

// Examples of a TSV file: `text<TAB>label` per line (split at the last tab); blank lines skipped.
std::vector<LabeledText> read_examples(const std::string& path) {
  std::vector<LabeledText> examples;
  int number = 0;
  for (const std::string& line : split_lines(read_file(path))) {
    ++number;
    if (blank(line)) continue;
    const std::string where = fmt::format("{}:{}", path, number);
    const auto tab = line.rfind('\t');
    if (tab == std::string::npos) fail("{}: expected text<TAB>label, found no tab", where);
    std::string label = line.substr(tab + 1);
    label.erase(0, label.find_first_not_of(" \t"));
    label.erase(label.find_last_not_of(" \t") + 1);
    examples.push_back({line.substr(0, tab), label, where});
  }
  if (examples.empty()) fail("input file '{}' holds no examples (text<TAB>label lines)", path);
  return examples;
}

std::vector<std::string> parse_labels(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  for (std::string name; std::getline(in, name, ',');) {
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.empty()) fail("--labels \"{}\": empty label name", text);
    if (std::find(names.begin(), names.end(), name) != names.end())
      fail("--labels \"{}\": label '{}' appears twice", text, name);
    names.push_back(name);
  }
  return names;
}

// Raw little-endian int32 rows: LM [N, seq_len] tokens; classification [N, seq_len + 2]:
// the tokens, then last_pos, then the label index.
TokenRows read_token_file(const std::string& path, int seq_len, bool classify, std::int64_t vocab,
                          int n_labels) {
  const std::string bytes = read_file(path);
  const int cols = seq_len + (classify ? 2 : 0);
  const std::size_t row_bytes = sizeof(std::int32_t) * cols;
  if (bytes.empty() || bytes.size() % row_bytes != 0)
    fail("token file '{}': {} bytes is not a whole number of int32 rows of {} ({} bytes{})", path,
         bytes.size(), cols, row_bytes,
         classify ? "; classification rows are seq_len tokens, last_pos, label" : "");
  TokenRows rows;
  rows.rows = static_cast<std::int64_t>(bytes.size() / row_bytes);
  for (std::size_t i = 0; i < bytes.size() / sizeof(std::int32_t); ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + 4 * i;
    const std::uint32_t u = p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24;
    const auto v = static_cast<std::int32_t>(u);
    const auto row = static_cast<std::int64_t>(i / cols);
    const int col = static_cast<int>(i % cols);
    if (col < seq_len) {
      if (v < 0 || v >= vocab)
        fail("token file '{}': token {} at row {}, position {} outside [0, --vocab {})", path, v,
             row, col, vocab);
      rows.tokens.push_back(v);
    } else if (col == seq_len) {
      if (v < 0 || v >= seq_len)
        fail("token file '{}': row {}: last_pos {} outside [0, seq_len {})", path, row, v, seq_len);
      rows.last_pos.push_back(v);
    } else {
      if (v < 0 || v >= n_labels)
        fail("token file '{}': row {}: label {} outside [0, {} labels)", path, row, v, n_labels);
      rows.labels.push_back(v);
    }
  }
  return rows;
}

// "12, 345" -> {12, 345}: the label words' token ids for --tokens classification.
std::vector<std::int32_t> parse_ids(const std::string& text, std::int64_t vocab) {
  std::vector<std::int32_t> ids;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || item.find_first_not_of(" \t", used) != std::string::npos)
      fail("--label-words \"{}\": '{}' is not a token id", text, item);
    if (v < 0 || v >= vocab) fail("--label-words: id {} outside [0, --vocab {})", v, vocab);
    ids.push_back(static_cast<std::int32_t>(v));
  }
  return ids;
}

void append(TokenRows& all, const TokenRows& more) {
  all.rows += more.rows;
  all.tokens.insert(all.tokens.end(), more.tokens.begin(), more.tokens.end());
  all.labels.insert(all.labels.end(), more.labels.begin(), more.labels.end());
  all.last_pos.insert(all.last_pos.end(), more.last_pos.begin(), more.last_pos.end());
}

// The rows of one group of input files, in the mode the options say.
TokenRows read_rows(const DataOptions& o, const std::vector<std::string>& paths,
                    const TokenDatasetContents& contents) {
  const bool classify = o.task == "classification";
  TokenRows all;
  if (o.tokens) {
    for (const std::string& path : paths)
      append(all, read_token_file(path, o.seq_len, classify, o.vocab,
                                  static_cast<int>(contents.label_words.size())));
  } else if (classify) {
    std::vector<LabeledText> examples;
    for (const std::string& path : paths) {
      std::vector<LabeledText> more = read_examples(path);
      examples.insert(examples.end(), more.begin(), more.end());
    }
    all = classification_rows(examples, contents.label_names, o.seq_len);
  } else {
    std::vector<std::string> docs;
    for (const std::string& path : paths) {
      std::vector<std::string> more = read_documents(path);
      docs.insert(docs.end(), more.begin(), more.end());
    }
    all = lm_windows(docs, o.seq_len);
  }
  return all;
}

// Reads the inputs, tokenizes, splits and writes; returns the summary line.
std::string build_dataset(const DataOptions& o, bool fraction_given) {
  if (o.seq_len < 2)
    fail("--seq-len {}: must be at least 2 (a token and its next-token target)", o.seq_len);
  const bool classify = o.task == "classification";
  if (classify && o.labels.empty())
    fail("--task classification needs --labels, e.g. --labels \"negative,positive\"");
  if (!classify && !o.labels.empty()) fail("--labels is only for --task classification");
  if (!classify && !o.label_word_ids.empty())
    fail("--label-words is only for --task classification");
  if (o.tokens && classify && o.label_word_ids.empty())
    fail("--tokens --task classification needs --label-words ID,ID (one token id per label)");
  if (!(o.validation_fraction > 0.0 && o.validation_fraction < 1.0))
    fail("--validation-fraction {}: must be in (0, 1)", o.validation_fraction);
  if (!o.validation.empty() && fraction_given)
    fail("--validation FILE and --validation-fraction exclude each other");
  if (!o.test.empty() && o.validation.empty())
    fail("--test FILE needs --validation FILE too (the held-out splits are files, or a fraction)");
  if (o.tokens) {
    if (o.vocab < 2) fail("--vocab {}: must be at least 2", o.vocab);
    if (o.tokenizer.empty()) fail("--tokenizer: the name is empty");
    if (o.pad < 0 || o.pad >= o.vocab) fail("--pad {}: outside [0, --vocab {})", o.pad, o.vocab);
    for (auto [name, id] : {std::pair{"--bos", o.bos}, std::pair{"--eos", o.eos}})
      if (id < -1 || id >= o.vocab)
        fail("{} {}: outside [0, --vocab {}) (or -1: none)", name, id, o.vocab);
  }
  std::error_code ec;
  if (std::filesystem::is_directory(o.out, ec))
    fail("output '{}' is a directory; --out takes a file name (e.g. {}/data.h5)", o.out, o.out);
  if (std::filesystem::exists(o.out, ec) && !o.force)
    fail("output file '{}' exists; refusing to overwrite it (pass --force to replace it)", o.out);

  TokenDatasetContents contents;
  contents.task = o.task;
  contents.seq_len = o.seq_len;
  contents.source = fmt::format("{}", fmt::join(o.inputs, ","));
  if (!o.validation.empty())
    contents.source += fmt::format(";validation:{}", fmt::join(o.validation, ","));
  if (!o.test.empty()) contents.source += fmt::format(";test:{}", fmt::join(o.test, ","));
  if (o.tokens) {
    contents.tokenizer = o.tokenizer;
    contents.vocab = o.vocab;
    contents.bos_id = o.bos;
    contents.eos_id = o.eos;
    contents.pad_id = o.pad;
  }
  if (classify) {
    contents.label_names = parse_labels(o.labels);
    if (o.tokens) {
      contents.label_words = parse_ids(o.label_word_ids, o.vocab);
      if (contents.label_words.size() != contents.label_names.size())
        fail("--label-words gives {} ids for {} labels", contents.label_words.size(),
             contents.label_names.size());
    } else if (!o.label_word_ids.empty()) {
      contents.label_words = byte_label_words(o.label_word_ids, contents.label_names.size());
    } else {
      contents.label_words = label_words_for(contents.label_names);
    }
  }
  TokenRows all = read_rows(o, o.inputs, contents);
  if (o.validation.empty()) {
    split_rows(all, o.seq_len, o.validation_fraction, contents.train, contents.validation);
  } else {
    contents.train = std::move(all);
    contents.validation = read_rows(o, o.validation, contents);
    if (!o.test.empty()) contents.test = read_rows(o, o.test, contents);
  }
  write_token_dataset(o.out, contents, o.force);
  return fmt::format(
      "data: task={} train={} validation={}{} seq_len={} tokenizer={} vocab={} file={}", o.task,
      contents.train.rows, contents.validation.rows,
      contents.test.rows > 0 ? fmt::format(" test={}", contents.test.rows) : "", o.seq_len,
      contents.tokenizer, contents.vocab, o.out);
}

void add_options(CLI::App& app, DataOptions& o) {
  app.add_option("--task", o.task, "lm (text files) or classification (TSV: text<TAB>label)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lm", "classification"}));
  app.add_option("--seq-len", o.seq_len, "tokens per sequence (= data.seq_len of the run)")
      ->capture_default_str();
  app.add_option("--validation-fraction", o.validation_fraction,
                 "fraction of sequences held out for /validation, spread evenly, in (0, 1)")
      ->capture_default_str();
  app.add_option("--validation", o.validation,
                 "files (same kind as the inputs) that are the /validation split; the inputs "
                 "are then all /train")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_option("--test", o.test, "files (same kind as the inputs) that are the /test split")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_option("--labels", o.labels,
                 "classification: comma-separated label names; label word k is the byte token "
                 "of the first character of label k (initials must differ) unless "
                 "--label-words says otherwise");
  app.add_option("--out", o.out, "output HDF5 file")->required()->type_name("FILE.h5");
  app.add_flag("--force", o.force, "replace an existing output file");
  app.add_flag("--tokens", o.tokens,
               "inputs are raw little-endian int32 rows, used as they are: lm [N, seq_len] "
               "token ids; classification [N, seq_len + 2]: ids, last_pos, label index");
  app.add_option("--vocab", o.vocab, "--tokens: the tokenizer's vocabulary size")
      ->capture_default_str();
  app.add_option("--tokenizer", o.tokenizer, "--tokens: the tokenizer's name, recorded")
      ->capture_default_str();
  app.add_option("--bos", o.bos, "--tokens: BOS id (-1: none)")->capture_default_str();
  app.add_option("--eos", o.eos, "--tokens: EOS id (-1: none)")->capture_default_str();
  app.add_option("--pad", o.pad, "--tokens: PAD id (no next-token target where it follows)")
      ->capture_default_str();
  app.add_option("--label-words", o.label_word_ids,
                 "classification: with --tokens the token id of each label's word, "
                 "comma-separated (ID,ID); with text inputs one single character per label, "
                 "'|'-separated (\"n|p\": a bytes-v1 token is one byte, so longer words need "
                 "the model's tokenizer, scripts/make_dataset.py)")
      ->type_name("WORDS");
  app.add_option("inputs", o.inputs,
                 "lm: text files (a blank line separates documents); classification: TSV files")
      ->required()
      ->type_name("FILES");
}

}  // namespace

int run_data(const std::vector<std::string>& args) {
  CLI::App app{
      "Build an HDF5 token dataset for data.path. Text inputs use the byte tokenizer bytes-v1 "
      "(vocab 260); LM: each document is BOS + bytes + EOS, cut into windows of --seq-len (last "
      "padded); classification: BOS + text bytes, the label word is predicted at the last text "
      "token. A model's own tokenizer: scripts/make_dataset.py (Hugging Face tokenizers), "
      "which writes --tokens rows and calls this command.",
      "zoptimus data"};
  DataOptions o;
  add_options(app, o);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    // Every rank parsed the same arguments; only rank 0 prints.
    if (log::rank() == 0) return app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    fail_on_all_ranks(MPI_COMM_WORLD,
                      fmt::format("zoptimus data: {} (see zoptimus data --help)", e.what()));
  }

  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::string summary, error;
  if (rank == 0) {
    try {
      summary = build_dataset(o, app.count("--validation-fraction") > 0);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "zoptimus data failed";
    }
  }
  // The other ranks wait for rank 0's outcome, so every rank exits with the same status.
  broadcast_string(error, 0, MPI_COMM_WORLD);
  if (!error.empty()) fail_on_all_ranks(MPI_COMM_WORLD, "zoptimus data: " + error);
  log::info("{}", summary);
  return 0;
}

}  // namespace zoptimus::app
