// JSON scalars as text, for the reports that mfn_check and the ctest suite
// write by hand (no JSON library in the engine's build).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace mfn_tools {

// A quoted JSON string: quotes and backslashes escaped, control characters as \u00XX.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\', out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// A JSON number with `digits` significant digits; null for NaN and infinities.
inline std::string json_number(double v, int digits = 6) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

}  // namespace mfn_tools
