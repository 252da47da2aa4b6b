// models/manifest.json reader. Runs once, on the thread that loads the model.
// The JSON reader is deliberately small: a recursive-descent parser into a
// tree, with a depth limit so that a hostile file cannot exhaust the stack.
#include "core/manifest.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>

#include "core/model_file.h"

namespace mfn {
namespace {

constexpr int kMaxJsonDepth = 64;

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  Status parse(Json* out) {
    MFN_RETURN_IF_ERROR(value(out, 0));
    space();
    if (pos_ != text_.size()) return error("trailing characters");
    return Status::ok();
  }

 private:
  Status error(const std::string& what) const {
    return Status(Code::model_invalid, "manifest: " + what + " at byte " + std::to_string(pos_));
  }

  void space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool literal(const char* word) {
    const std::string w(word);
    if (text_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }

  Status value(Json* out, int depth) {
    if (depth > kMaxJsonDepth) return error("nesting too deep");
    space();
    if (pos_ >= text_.size()) return error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out->kind = Json::kString;
      return string(&out->string);
    }
    if (literal("true")) {
      out->kind = Json::kBool;
      out->boolean = true;
      return Status::ok();
    }
    if (literal("false")) {
      out->kind = Json::kBool;
      return Status::ok();
    }
    if (literal("null")) return Status::ok();
    return number(out);
  }

  Status object(Json* out, int depth) {
    out->kind = Json::kObject;
    ++pos_;  // '{'
    space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return Status::ok();
    }
    for (;;) {
      space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a key");
      std::string key;
      MFN_RETURN_IF_ERROR(string(&key));
      space();
      if (pos_ >= text_.size() || text_[pos_] != ':') return error("expected ':'");
      ++pos_;
      Json item;
      MFN_RETURN_IF_ERROR(value(&item, depth + 1));
      out->object[key] = std::move(item);
      space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return Status::ok();
      }
      return error("expected ',' or '}'");
    }
  }

  Status array(Json* out, int depth) {
    out->kind = Json::kArray;
    ++pos_;  // '['
    space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return Status::ok();
    }
    for (;;) {
      out->array.emplace_back();
      MFN_RETURN_IF_ERROR(value(&out->array.back(), depth + 1));
      space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return Status::ok();
      }
      return error("expected ',' or ']'");
    }
  }

  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  Status hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else return error("bad \\u escape");
    }
    *out = v;
    return Status::ok();
  }

  Status string(std::string* out) {
    ++pos_;  // opening quote
    for (;;) {
      if (pos_ >= text_.size()) return error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          MFN_RETURN_IF_ERROR(hex4(&cp));
          if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
            uint32_t low = 0;
            if (!literal("\\u")) return error("unpaired surrogate");
            MFN_RETURN_IF_ERROR(hex4(&low));
            if (low < 0xdc00 || low >= 0xe000) return error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return error("unpaired surrogate");
          }
          append_utf8(cp, out);
          break;
        }
        default: return error("bad escape");
      }
    }
  }

  Status number(Json* out) {
    // JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    const size_t start = pos_;
    auto digits = [this]() {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    const size_t int_start = pos_;
    if (!digits()) return error("unexpected character");
    if (text_[int_start] == '0' && pos_ - int_start > 1) return error("leading zero in number");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return error("bad number");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return error("bad number");
    }
    out->kind = Json::kNumber;
    out->number = std::strtod(text_.substr(start, pos_ - start).c_str(), nullptr);
    if (!std::isfinite(out->number)) return error("number out of range");
    return Status::ok();
  }

  const std::string& text_;
  size_t pos_ = 0;
};

Status field_error(const std::string& path, const std::string& field, const std::string& what) {
  return Status(Code::model_invalid, "manifest " + path + ": '" + field + "' " + what);
}

Status get_string(const Json& root, const std::string& path, const char* field, bool required, std::string* out) {
  auto it = root.object.find(field);
  if (it == root.object.end()) return required ? field_error(path, field, "is missing") : Status::ok();
  if (it->second.kind != Json::kString || it->second.string.empty()) {
    return field_error(path, field, "must be a non-empty string");
  }
  *out = it->second.string;
  return Status::ok();
}

Status get_int(const Json& root, const std::string& path, const char* field, int max, int* out) {
  auto it = root.object.find(field);
  if (it == root.object.end()) return field_error(path, field, "is missing");
  const Json& v = it->second;
  if (v.kind != Json::kNumber || v.number != std::floor(v.number) || v.number < 1 || v.number > max) {
    return field_error(path, field, "must be an integer from 1 to " + std::to_string(max));
  }
  *out = static_cast<int>(v.number);
  return Status::ok();
}

// A non-empty array of at most 16 non-empty strings (a detector's outputs).
Status get_string_list(const Json& root, const std::string& path, const char* field, std::vector<std::string>* out) {
  auto it = root.object.find(field);
  if (it == root.object.end()) return field_error(path, field, "is missing");
  const Json& v = it->second;
  if (v.kind != Json::kArray || v.array.empty() || v.array.size() > 16) {
    return field_error(path, field, "must be an array of 1 to 16 names");
  }
  for (const Json& name : v.array) {
    if (name.kind != Json::kString || name.string.empty()) return field_error(path, field, "must hold non-empty strings");
    out->push_back(name.string);
  }
  return Status::ok();
}

// A number for all three channels, or an array of three.
Status get_triple(const Json& root, const std::string& path, const char* field, bool nonzero, float* out) {
  auto it = root.object.find(field);
  if (it == root.object.end()) return Status::ok();
  const Json& v = it->second;
  double values[3];
  if (v.kind == Json::kNumber) {
    values[0] = values[1] = values[2] = v.number;
  } else if (v.kind == Json::kArray && v.array.size() == 3) {
    for (int k = 0; k < 3; ++k) {
      if (v.array[k].kind != Json::kNumber) return field_error(path, field, "must be a number or 3 numbers");
      values[k] = v.array[k].number;
    }
  } else {
    return field_error(path, field, "must be a number or 3 numbers");
  }
  for (int k = 0; k < 3; ++k) {
    if (!std::isfinite(static_cast<float>(values[k])) || (nonzero && values[k] == 0)) {
      return field_error(path, field, nonzero ? "must be finite and non-zero" : "must be finite");
    }
    out[k] = static_cast<float>(values[k]);
  }
  return Status::ok();
}

}  // namespace

Status read_manifest(const std::string& path, Manifest* out) {
  *out = Manifest();
  std::vector<uint8_t> bytes;
  MFN_RETURN_IF_ERROR(read_regular_file(path, "manifest", kMaxManifestBytes, &bytes));
  return parse_manifest(std::string(bytes.begin(), bytes.end()), path, out);
}

Status parse_manifest(const std::string& text, const std::string& path, Manifest* out) {
  *out = Manifest();
  Json root;
  Status parsed = JsonParser(text).parse(&root);
  if (!parsed.is_ok()) return Status(parsed.code(), path + ": " + parsed.message());
  if (root.kind != Json::kObject) return Status(Code::model_invalid, "manifest " + path + " is not a JSON object");

  MFN_RETURN_IF_ERROR(get_string(root, path, "file", true, &out->file));
  MFN_RETURN_IF_ERROR(get_string(root, path, "sha256", false, &out->sha256));
  for (char& c : out->sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out->sha256.empty() &&
      (out->sha256.size() != 64 || out->sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return field_error(path, "sha256", "must be 64 hexadecimal digits");
  }
  MFN_RETURN_IF_ERROR(get_string(root, path, "input", true, &out->input_name));
  MFN_RETURN_IF_ERROR(get_string(root, path, "kind", false, &out->kind));
  if (out->kind != "embedding" && out->kind != "detector") {
    return field_error(path, "kind", "must be \"embedding\" or \"detector\"");
  }
  const bool detector = out->kind == "detector";
  if (detector) {
    MFN_RETURN_IF_ERROR(get_string_list(root, path, "outputs", &out->output_names));
    out->output_name = out->output_names[0];
  } else {
    MFN_RETURN_IF_ERROR(get_string(root, path, "output", true, &out->output_name));
  }
  out->layout = "NCHW";
  MFN_RETURN_IF_ERROR(get_string(root, path, "layout", false, &out->layout));
  if (out->layout != "NCHW" && out->layout != "NHWC") {
    return Status(Code::model_unsupported, "manifest " + path + ": layout '" + out->layout + "' (only NCHW or NHWC)");
  }
  MFN_RETURN_IF_ERROR(get_int(root, path, "height", kMaxInputSide, &out->height));
  MFN_RETURN_IF_ERROR(get_int(root, path, "width", kMaxInputSide, &out->width));
  MFN_RETURN_IF_ERROR(get_string(root, path, "channelOrder", true, &out->channel_order));
  if (out->channel_order != "BGR" && out->channel_order != "RGB") {
    return field_error(path, "channelOrder", "must be \"BGR\" or \"RGB\"");
  }
  MFN_RETURN_IF_ERROR(get_triple(root, path, "mean", false, out->mean));
  MFN_RETURN_IF_ERROR(get_triple(root, path, "std", true, out->std));
  if (!detector) MFN_RETURN_IF_ERROR(get_int(root, path, "embeddingSize", kMaxEmbeddingSize, &out->embedding_size));
  auto points = root.object.find("alignPoints");
  if (detector && points != root.object.end()) {
    const Json& v = points->second;
    if (v.kind != Json::kArray || v.array.size() != 8) return field_error(path, "alignPoints", "must be 8 numbers");
    for (const Json& x : v.array) {
      if (x.kind != Json::kNumber || !std::isfinite(static_cast<float>(x.number))) {
        return field_error(path, "alignPoints", "must be 8 finite numbers");
      }
      out->align_points.push_back(static_cast<float>(x.number));
    }
  }
  return Status::ok();
}

}  // namespace mfn
