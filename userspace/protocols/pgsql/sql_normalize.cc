#include "protocols/pgsql/sql_normalize.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace fraiseql::protocols::pgsql {
namespace {

enum class Tok { kWord, kQuotedIdent, kLiteral, kPunct };

struct Token {
  Tok kind;
  std::string_view text;
  bool space_before;
  int depth;  // parenthesis depth before the token
};

bool IsIdentStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool IsIdentChar(unsigned char c) {
  return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '$';
}
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool Is(const Token& t, std::string_view kw) {
  if (t.kind != Tok::kWord || t.text.size() != kw.size()) return false;
  for (size_t i = 0; i < kw.size(); ++i) {
    if (Lower(t.text[i]) != Lower(kw[i])) return false;
  }
  return true;
}
bool IsP(const Token& t, char c) {
  return t.kind == Tok::kPunct && t.text.size() == 1 && t.text[0] == c;
}

// Skips a quoted run starting at s[i] == q; returns the index after the closing quote (or
// s.size()). backslash: E'' strings.
size_t SkipQuoted(std::string_view s, size_t i, char q, bool backslash) {
  ++i;
  while (i < s.size()) {
    const char c = s[i];
    if (backslash && c == '\\') {
      i += 2;
      continue;
    }
    if (c == q) {
      if (i + 1 < s.size() && s[i + 1] == q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return s.size();
}

// The end of the (nested) /* ... */ comment opening at s[i].
size_t SkipBlockComment(std::string_view s, size_t i) {
  int nest = 1;
  i += 2;
  while (i < s.size() && nest > 0) {
    if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      ++nest;
      i += 2;
    } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
      --nest;
      i += 2;
    } else {
      ++i;
    }
  }
  return i;
}

// The end of what starts with the '$' at s[i]: a $1 placeholder or a $tag$ ... $tag$ string
// (*kind = kLiteral), else the lone '$' (*kind = kPunct).
size_t ScanDollar(std::string_view s, size_t i, Tok* kind) {
  size_t j = i + 1;
  *kind = Tok::kLiteral;
  if (j < s.size() && IsDigit(static_cast<unsigned char>(s[j]))) {  // $1 placeholder
    while (j < s.size() && IsDigit(static_cast<unsigned char>(s[j]))) ++j;
    return j;
  }
  while (j < s.size() && IsIdentChar(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
  if (j < s.size() && s[j] == '$') {  // $tag$ ... $tag$
    std::string_view tag = s.substr(i, j + 1 - i);
    const size_t close = s.find(tag, j + 1);
    return close == std::string_view::npos ? s.size() : close + tag.size();
  }
  *kind = Tok::kPunct;
  return i + 1;
}

// The end of the number starting at s[i] (0x hex, or digits/./_ with an optional exponent).
size_t ScanNumber(std::string_view s, size_t i) {
  size_t j = i;
  if (s[i] == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
    j += 2;
    while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
    return j;
  }
  while (j < s.size() &&
         (IsDigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == '_')) {
    ++j;
  }
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    if (k < s.size() && IsDigit(static_cast<unsigned char>(s[k]))) {
      j = k;
      while (j < s.size() && IsDigit(static_cast<unsigned char>(s[j]))) ++j;
    }
  }
  return j;
}

// Lexes sql (already capped). Bounded: one token per input byte at most.
std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  bool space = false;
  int depth = 0;
  size_t i = 0;
  auto push = [&](Tok k, size_t from, size_t to) {
    out.push_back(Token{k, s.substr(from, to - from), space, depth});
    space = false;
  };
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (IsSpace(c)) {
      space = true;
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
      space = true;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      i = SkipBlockComment(s, i);
      space = true;
      continue;
    }
    if (c == '\'' || c == '"') {  // 'literal' or "quoted identifier"
      const size_t e = SkipQuoted(s, i, static_cast<char>(c), false);
      push(c == '\'' ? Tok::kLiteral : Tok::kQuotedIdent, i, e);
      i = e;
      continue;
    }
    // Prefixed strings: E'..', B'..', X'..', N'..', U&'..'.
    if ((c == 'e' || c == 'E' || c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' ||
         c == 'N') &&
        i + 1 < s.size() && s[i + 1] == '\'') {
      const size_t e = SkipQuoted(s, i + 1, '\'', c == 'e' || c == 'E');
      push(Tok::kLiteral, i, e);
      i = e;
      continue;
    }
    if ((c == 'u' || c == 'U') && i + 2 < s.size() && s[i + 1] == '&' && s[i + 2] == '\'') {
      const size_t e = SkipQuoted(s, i + 2, '\'', false);
      push(Tok::kLiteral, i, e);
      i = e;
      continue;
    }
    if (c == '$') {
      Tok kind = Tok::kPunct;
      const size_t e = ScanDollar(s, i, &kind);
      push(kind, i, e);
      i = e;
      continue;
    }
    if (IsDigit(c) ||
        (c == '.' && i + 1 < s.size() && IsDigit(static_cast<unsigned char>(s[i + 1])))) {
      const size_t j = ScanNumber(s, i);
      push(Tok::kLiteral, i, j);
      i = j;
      continue;
    }
    if (IsIdentStart(c)) {
      size_t j = i + 1;
      while (j < s.size() && IsIdentChar(static_cast<unsigned char>(s[j]))) ++j;
      push(Tok::kWord, i, j);
      i = j;
      continue;
    }
    // Punctuation / operators: "::" kept together; other chars one by one.
    const size_t n = c == ':' && i + 1 < s.size() && s[i + 1] == ':' ? 2 : 1;
    if (c == ')') depth = std::max(0, depth - 1);
    push(Tok::kPunct, i, i + n);
    if (c == '(') ++depth;
    i += n;
  }
  return out;
}

// Index of the closing paren matching the "(" at toks[open], or toks.size().
size_t MatchParen(const std::vector<Token>& toks, size_t open) {
  int d = 0;
  for (size_t i = open; i < toks.size(); ++i) {
    if (IsP(toks[i], '(')) ++d;
    if (IsP(toks[i], ')') && --d == 0) return i;
  }
  return toks.size();
}

// A run "( ? , ? , ... )" of literals (casts allowed: ?::int) starting at toks[open].
bool LiteralList(const std::vector<Token>& toks, size_t open, size_t close) {
  if (close >= toks.size() || close == open + 1) return false;
  bool expect_value = true;
  for (size_t i = open + 1; i < close; ++i) {
    const Token& t = toks[i];
    if (expect_value) {
      if (t.kind != Tok::kLiteral && !(IsP(t, '-') && i + 1 < close &&
                                       toks[i + 1].kind == Tok::kLiteral)) {
        return false;
      }
      if (IsP(t, '-')) ++i;
      expect_value = false;
      // Optional cast ::type
      while (i + 2 < close && toks[i + 1].text == "::" && toks[i + 2].kind == Tok::kWord) i += 2;
    } else {
      if (!IsP(t, ',')) return false;
      expect_value = true;
    }
  }
  return !expect_value;
}

std::string_view Capped(std::string_view sql) { return sql.substr(0, kMaxSqlInput); }

// Index of the main verb token (after leading "(" and WITH ... CTEs), or toks.size().
size_t MainVerb(const std::vector<Token>& toks) {
  size_t i = 0;
  while (i < toks.size() && IsP(toks[i], '(')) ++i;
  if (i >= toks.size() || !Is(toks[i], "WITH")) return i;
  // WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] ( ... ) [, ...] verb
  ++i;
  while (i < toks.size()) {
    const Token& t = toks[i];
    if (IsP(t, '(')) {
      i = MatchParen(toks, i) + 1;
      continue;
    }
    if (t.kind == Tok::kWord &&
        (Is(t, "SELECT") || Is(t, "INSERT") || Is(t, "UPDATE") || Is(t, "DELETE") ||
         Is(t, "MERGE") || Is(t, "VALUES") || Is(t, "TABLE"))) {
      return i;
    }
    ++i;
  }
  return toks.size();
}

void QuotedOrLower(std::string* out, const Token& t) {
  if (t.kind == Tok::kQuotedIdent) {
    std::string_view v = t.text.substr(1);
    if (!v.empty() && v.back() == '"') v.remove_suffix(1);
    for (size_t i = 0; i < v.size(); ++i) {
      out->push_back(v[i]);
      if (v[i] == '"' && i + 1 < v.size() && v[i + 1] == '"') ++i;
    }
  } else {
    for (char c : t.text) out->push_back(Lower(c));
  }
}

bool IsName(const Token& t) { return t.kind == Tok::kWord || t.kind == Tok::kQuotedIdent; }

// A (qualified) name starting at toks[i]; *end receives the index after it.
std::string NameAt(const std::vector<Token>& toks, size_t i, size_t* end) {
  std::string name;
  if (i >= toks.size() || !IsName(toks[i])) {
    *end = i;
    return name;
  }
  QuotedOrLower(&name, toks[i]);
  ++i;
  while (i + 1 < toks.size() && IsP(toks[i], '.') && IsName(toks[i + 1])) {
    name.push_back('.');
    QuotedOrLower(&name, toks[i + 1]);
    i += 2;
  }
  *end = i;
  return name;
}

std::string RelationIn(const std::vector<Token>& toks, size_t begin, size_t end, int budget);

// The relation named at toks[i] (skipping ONLY / LATERAL), looking inside "( subquery )".
std::string RelationAt(const std::vector<Token>& toks, size_t i, size_t end, int budget) {
  while (i < end && (Is(toks[i], "ONLY") || Is(toks[i], "LATERAL"))) ++i;
  if (i >= end) return "";
  if (IsP(toks[i], '(')) {
    if (budget <= 0) return "";
    return RelationIn(toks, i + 1, std::min(MatchParen(toks, i), end), budget - 1);
  }
  size_t after = i;
  return NameAt(toks, i, &after);
}

bool IsKeywordNotFunction(const Token& t) {
  static constexpr std::string_view kKw[] = {"SELECT", "DISTINCT", "ALL", "CASE", "WHEN",
                                             "THEN",   "ELSE",     "END", "AND",  "OR",
                                             "NOT",    "AS",       "IN",  "EXISTS", "ON"};
  for (std::string_view k : kKw) {
    if (Is(t, k)) return true;
  }
  return false;
}

// The main relation of the statement in toks[begin, end). budget bounds nesting.
std::string RelationIn(const std::vector<Token>& toks, size_t begin, size_t end, int budget) {
  std::vector<Token> sub(toks.begin() + static_cast<std::ptrdiff_t>(begin),
                         toks.begin() + static_cast<std::ptrdiff_t>(end));
  const size_t v = MainVerb(sub);
  if (v >= sub.size()) return "";
  const Token& verb = sub[v];
  const int base = verb.depth;
  auto find_kw = [&](std::string_view kw, size_t from) {
    for (size_t i = from; i < sub.size(); ++i) {
      if (sub[i].depth == base && Is(sub[i], kw)) return i;
      if (IsP(sub[i], ';') && sub[i].depth == base) break;
    }
    return sub.size();
  };
  if (Is(verb, "SELECT") || Is(verb, "VALUES")) {
    const size_t from = find_kw("FROM", v + 1);
    if (from < sub.size()) return RelationAt(sub, from + 1, sub.size(), budget);
    // No FROM: the first function call in the select list.
    for (size_t i = v + 1; i + 1 < sub.size(); ++i) {
      if (IsP(sub[i], ';')) break;
      if (!IsName(sub[i]) || IsKeywordNotFunction(sub[i])) continue;
      size_t after = i;
      std::string name = NameAt(sub, i, &after);
      if (after < sub.size() && IsP(sub[after], '(')) return name;
      i = after > i ? after - 1 : i;
    }
    return "";
  }
  if (Is(verb, "INSERT") || Is(verb, "MERGE")) {
    const size_t into = find_kw("INTO", v + 1);
    return into < sub.size() ? RelationAt(sub, into + 1, sub.size(), budget) : "";
  }
  if (Is(verb, "UPDATE") || Is(verb, "TABLE") || Is(verb, "CALL")) {
    return RelationAt(sub, v + 1, sub.size(), budget);
  }
  if (Is(verb, "DELETE")) {
    const size_t from = find_kw("FROM", v + 1);
    return from < sub.size() ? RelationAt(sub, from + 1, sub.size(), budget) : "";
  }
  if (Is(verb, "COPY")) return RelationAt(sub, v + 1, sub.size(), budget);
  return "";
}

}  // namespace

const char* ToString(QueryType t) {
  switch (t) {
    case QueryType::kSelect: return "SELECT";
    case QueryType::kInsert: return "INSERT";
    case QueryType::kUpdate: return "UPDATE";
    case QueryType::kDelete: return "DELETE";
    case QueryType::kBegin: return "BEGIN";
    case QueryType::kCommit: return "COMMIT";
    case QueryType::kRollback: return "ROLLBACK";
    case QueryType::kSet: return "SET";
    case QueryType::kCall: return "CALL";
    case QueryType::kCopy: return "COPY";
    case QueryType::kOther: return "OTHER";
  }
  return "OTHER";
}

std::string NormalizeSql(std::string_view sql) {
  const std::vector<Token> toks = Lex(Capped(sql));
  std::string out;
  out.reserve(std::min(kMaxNormalizedSize, sql.size()));
  bool after_values = false;  // just emitted the first row of a VALUES list
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    std::string_view text = t.kind == Tok::kLiteral ? std::string_view("?") : t.text;
    size_t skip_to = i;
    if (IsP(t, '(') && i > 0 && Is(toks[i - 1], "IN")) {
      const size_t close = MatchParen(toks, i);
      if (LiteralList(toks, i, close)) {
        text = "(?)";
        skip_to = close;
      }
    }
    if (after_values && IsP(t, ',') && i + 1 < toks.size() && IsP(toks[i + 1], '(')) {
      // Drop ", (...)" rows after the first.
      i = MatchParen(toks, i + 1);
      continue;
    }
    if (Is(t, "VALUES") && i + 1 < toks.size() && IsP(toks[i + 1], '(')) {
      const size_t close = MatchParen(toks, i + 1);
      after_values = false;
      // Emit VALUES and its first row normally, then skip the following rows.
      const size_t need = (t.space_before && !out.empty() ? 1 : 0) + text.size();
      if (out.size() + need > kMaxNormalizedSize) {
        out += "...";
        return out;
      }
      if (t.space_before && !out.empty()) out.push_back(' ');
      out.append(text);
      for (size_t j = i + 1; j <= close && j < toks.size(); ++j) {
        const Token& r = toks[j];
        std::string_view rt = r.kind == Tok::kLiteral ? std::string_view("?") : r.text;
        if (out.size() + 1 + rt.size() > kMaxNormalizedSize) {
          out += "...";
          return out;
        }
        if (r.space_before) out.push_back(' ');
        out.append(rt);
      }
      i = close;
      after_values = true;
      continue;
    }
    if (!IsP(t, ',')) after_values = false;
    const size_t need = (t.space_before && !out.empty() ? 1 : 0) + text.size();
    if (out.size() + need > kMaxNormalizedSize) {
      out += "...";
      return out;
    }
    if (t.space_before && !out.empty()) out.push_back(' ');
    out.append(text);
    i = skip_to;
  }
  return out;
}

QueryType ClassifySql(std::string_view sql) {
  const std::vector<Token> toks = Lex(Capped(sql));
  const size_t v = MainVerb(toks);
  if (v >= toks.size()) return QueryType::kOther;
  const Token& t = toks[v];
  auto next_is = [&](std::string_view kw) { return v + 1 < toks.size() && Is(toks[v + 1], kw); };
  if (Is(t, "SELECT") || Is(t, "VALUES") || Is(t, "TABLE")) return QueryType::kSelect;
  if (Is(t, "INSERT")) return QueryType::kInsert;
  if (Is(t, "UPDATE")) return QueryType::kUpdate;
  if (Is(t, "DELETE")) return QueryType::kDelete;
  if (Is(t, "BEGIN")) return QueryType::kBegin;
  if (Is(t, "START")) return next_is("TRANSACTION") ? QueryType::kBegin : QueryType::kOther;
  if (Is(t, "COMMIT") || Is(t, "END")) return QueryType::kCommit;
  if (Is(t, "ROLLBACK") || Is(t, "ABORT")) {
    // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name ends no transaction.
    size_t j = v + 1;
    if (j < toks.size() && (Is(toks[j], "WORK") || Is(toks[j], "TRANSACTION"))) ++j;
    if (j < toks.size() && Is(toks[j], "TO")) return QueryType::kOther;
    return QueryType::kRollback;
  }
  if (Is(t, "SET")) return QueryType::kSet;
  if (Is(t, "CALL")) return QueryType::kCall;
  if (Is(t, "COPY")) return QueryType::kCopy;
  return QueryType::kOther;
}

std::string MainRelation(std::string_view sql) {
  const std::vector<Token> toks = Lex(Capped(sql));
  return RelationIn(toks, 0, toks.size(), 4);
}

std::vector<std::string_view> SplitStatements(std::string_view sql) {
  std::vector<std::string_view> out;
  std::string_view s = Capped(sql);
  const std::vector<Token> toks = Lex(s);
  size_t start_tok = 0;
  auto flush = [&](size_t end_tok, size_t end_byte) {
    if (end_tok > start_tok) {
      const size_t from = static_cast<size_t>(toks[start_tok].text.data() - s.data());
      std::string_view st = sql.substr(from, end_byte - from);
      while (!st.empty() && IsSpace(static_cast<unsigned char>(st.back()))) st.remove_suffix(1);
      out.push_back(st);
    }
  };
  for (size_t i = 0; i < toks.size(); ++i) {
    if (IsP(toks[i], ';') && toks[i].depth == 0) {
      flush(i, static_cast<size_t>(toks[i].text.data() - s.data()));
      start_tok = i + 1;
    }
  }
  if (start_tok < toks.size()) {
    // The last statement runs to the end of sql (beyond the cap if sql was longer); trailing
    // comments are part of it, as the server keeps them.
    const Token& last = toks.back();
    size_t end = static_cast<size_t>(last.text.data() - s.data()) + last.text.size();
    if (sql.size() > s.size()) end = sql.size();
    flush(toks.size(), end);
  }
  return out;
}

}  // namespace fraiseql::protocols::pgsql
