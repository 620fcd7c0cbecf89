// The GraphQL lexer of document.cc (punctuators, names, numbers, strings, block strings;
// ignored tokens skipped). Internal to fql_graphql: not part of the graphql.h API.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fraiseql::protocols::graphql::internal {

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok : uint8_t { kEof, kPunct, kName, kInt, kFloat, kString };

struct Token {
  Tok kind = Tok::kEof;
  std::string_view text;
};

inline bool IsNameStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsNameContinue(char c) { return IsNameStart(c) || IsDigit(c); }
inline bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  // Reads the next token into *t; false on a lexical error.
  bool Next(Token* t) {
    SkipIgnored();
    if (pos_ >= s_.size()) {
      *t = Token{Tok::kEof, {}};
      return true;
    }
    const size_t start = pos_;
    const char c = s_[pos_];
    switch (c) {
      case '!': case '$': case '&': case '(': case ')': case ':': case '=': case '@':
      case '[': case ']': case '{': case '|': case '}':
        ++pos_;
        *t = Token{Tok::kPunct, s_.substr(start, 1)};
        return true;
      case '.':
        if (s_.substr(pos_, 3) != "...") return false;
        pos_ += 3;
        *t = Token{Tok::kPunct, s_.substr(start, 3)};
        return true;
      case '"':
        if (!LexString()) return false;
        *t = Token{Tok::kString, s_.substr(start, pos_ - start)};
        return true;
      default:
        break;
    }
    if (IsNameStart(c)) {
      while (pos_ < s_.size() && IsNameContinue(s_[pos_])) ++pos_;
      *t = Token{Tok::kName, s_.substr(start, pos_ - start)};
      return true;
    }
    if (c == '-' || IsDigit(c)) return LexNumber(start, t);
    return false;
  }

 private:
  void SkipIgnored() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n' && s_[pos_] != '\r') ++pos_;
      } else if (s_.substr(pos_, 3) == "\xEF\xBB\xBF") {  // UnicodeBOM
        pos_ += 3;
      } else {
        return;
      }
    }
  }

  size_t Digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    return pos_ - start;
  }

  bool LexNumber(size_t start, Token* t) {
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return false;
    if (s_[pos_] == '0') {
      ++pos_;
      if (pos_ < s_.size() && IsDigit(s_[pos_])) return false;  // no leading zeros
    } else {
      Digits();
    }
    bool is_float = false;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (Digits() == 0) return false;
      is_float = true;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (Digits() == 0) return false;
      is_float = true;
    }
    // Lookahead restriction: a number is not followed by '.' or a NameStart.
    if (pos_ < s_.size() && (s_[pos_] == '.' || IsNameStart(s_[pos_]))) return false;
    *t = Token{is_float ? Tok::kFloat : Tok::kInt, s_.substr(start, pos_ - start)};
    return true;
  }

  // At '"': a string or a block string; the content is validated, not decoded (never needed).
  bool LexString() {
    if (s_.substr(pos_, 3) == "\"\"\"") {
      pos_ += 3;
      while (pos_ < s_.size()) {
        if (s_.substr(pos_, 4) == "\\\"\"\"") {
          pos_ += 4;
        } else if (s_.substr(pos_, 3) == "\"\"\"") {
          pos_ += 3;
          return true;
        } else {
          ++pos_;
        }
      }
      return false;  // unterminated block string
    }
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\n' || c == '\r') return false;
      if (c == '\\') {
        if (pos_ + 1 >= s_.size()) return false;
        const char e = s_[pos_ + 1];
        if (e == 'u') {
          if (pos_ + 6 > s_.size()) return false;
          for (size_t i = pos_ + 2; i < pos_ + 6; ++i) {
            if (!IsHex(s_[i])) return false;
          }
          pos_ += 6;
          continue;
        }
        if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
            e != 't') {
          return false;
        }
        pos_ += 2;
        continue;
      }
      ++pos_;
    }
    return false;  // unterminated string
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace fraiseql::protocols::graphql::internal
