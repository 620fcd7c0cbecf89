#include "handlers/identity.h"

#include <cctype>

#include <nlohmann/json.hpp>

namespace fraiseql::handlers {

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A tiny cursor over SQL text: whitespace, words, quoted literals.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  void Space() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool Word(std::string_view w) {
    Space();
    if (s.size() - i < w.size() || !IEquals(s.substr(i, w.size()), w)) return false;
    size_t end = i + w.size();
    if (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_' ||
                           s[end] == '.')) {
      return false;
    }
    i = end;
    return true;
  }
  bool Char(char c) {
    Space();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A 'quoted' literal ('' escapes a quote), or an unquoted run up to ; , ) or space.
  std::optional<std::string> Value() {
    Space();
    if (i >= s.size()) return std::nullopt;
    std::string out;
    if (s[i] == '\'') {
      for (++i; i < s.size(); ++i) {
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            out.push_back('\'');
            ++i;
            continue;
          }
          ++i;
          return out;
        }
        out.push_back(s[i]);
      }
      return std::nullopt;  // unterminated
    }
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != ';' &&
           s[i] != ',' && s[i] != ')') {
      out.push_back(s[i++]);
    }
    if (out.empty()) return std::nullopt;
    return out;
  }
};

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::string SanitizeIdentity(std::string_view v, size_t max) {
  std::string out;
  for (char c : v) {
    if (out.size() >= max) break;
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out.push_back(c);
  }
  return out;
}

std::optional<std::string> SettingValue(std::string_view sql, std::string_view name) {
  Cursor c{sql};
  if (c.Word("SET")) {
    if (!c.Word("LOCAL")) c.Word("SESSION");
    if (!c.Word(name)) return std::nullopt;
    if (!c.Char('=') && !c.Word("TO")) return std::nullopt;
    auto v = c.Value();
    if (!v || (!v->empty() && (*v)[0] == '$')) return std::nullopt;  // not a value
    return SanitizeIdentity(*v);
  }
  if (c.Word("SELECT") && c.Word("set_config") && c.Char('(')) {
    auto n = c.Value();
    if (!n || !IEquals(*n, name) || !c.Char(',')) return std::nullopt;
    auto v = c.Value();
    if (!v) return std::nullopt;
    return SanitizeIdentity(*v);
  }
  return std::nullopt;
}

std::optional<std::string> JwtSubject(std::string_view authorization) {
  Cursor c{authorization};
  if (!c.Word("Bearer")) return std::nullopt;
  c.Space();
  std::string_view token = authorization.substr(c.i);
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return std::nullopt;
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  std::string_view payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  if (payload.size() > 16384) return std::nullopt;
  auto json = Base64UrlDecode(payload);
  if (!json) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("sub");
  if (it == j.end()) return std::nullopt;
  if (it->is_string()) return SanitizeIdentity(it->get<std::string>());
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return std::nullopt;
}

}  // namespace fraiseql::handlers
