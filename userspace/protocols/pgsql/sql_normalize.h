// SQL normalization, classification and main-relation extraction, for metrics labels and logs.
// Pure functions; robust to any bytes (never crash), bounded work: at most kMaxSqlInput bytes
// of the input are looked at (the rest is ignored), and every pass is linear in that.
//
// Lexing (PostgreSQL rules, ASCII only; other bytes are part of identifiers):
//   - comments: "-- ..." to end of line, "/* ... */" nested; removed.
//   - string literals: '...' ('' escapes), E'...' (backslash escapes), B'', X'', N'', U&'...';
//     dollar-quoted $$...$$ and $tag$...$tag$: literals. An unterminated one runs to the end.
//   - numbers: 42, 3.14, .5, 1e-3, 0x1F: literals. Digits glued to a word (t1) are a word.
//   - bind placeholders $1, $2...: literals.
//   - "quoted identifiers": identifiers (kept as written, quotes included, by NormalizeSql).
//   - TRUE/FALSE/NULL and every other word: kept as written (not case-folded).
//
// NormalizeSql:
//   - every literal and placeholder -> "?"; a cast stays: "$1::jsonb" -> "?::jsonb".
//   - whitespace and comments folded: tokens that were separated by anything keep one space,
//     tokens that touched still touch ("a=1" -> "a=?", "a = 1" -> "a = ?"); no leading or
//     trailing space; a trailing ";" is kept as written.
//   - IN lists of literals collapse: "IN (1, 2, 3)" / "IN ($1,$2)" -> "IN (?)".
//   - VALUES lists collapse to their first row: "VALUES (?, ?), (?, ?)" -> "VALUES (?, ?)".
//   - output is at most kMaxNormalizedSize bytes (cut at a token boundary, then "...").
//
// ClassifySql: the statement's verb, skipping leading comments and "(":
//   SELECT (also VALUES and TABLE; SHOW -> OTHER), INSERT, UPDATE, DELETE, BEGIN
//   (BEGIN, START TRANSACTION), COMMIT (COMMIT, END, COMMIT PREPARED), ROLLBACK (ROLLBACK,
//   ABORT, ROLLBACK PREPARED; but "ROLLBACK TO [SAVEPOINT]" -> OTHER, it ends no transaction),
//   SET (SET, SET LOCAL, SET SESSION; RESET -> OTHER), CALL, COPY; WITH ... -> the verb of the
//   main statement after the CTEs. SAVEPOINT, RELEASE, MERGE, DDL, EXPLAIN, DO... -> OTHER.
//
// MainRelation: the first relation the main statement reads or writes, or the function it calls:
//   SELECT: the first relation after the outermost FROM ("FROM (subquery)" looks inside; ONLY
//   and LATERAL skipped); "FROM schema.fn(...)" -> "schema.fn"; without FROM, the first
//   "name(" call in the select list ("SELECT app.fn($1)" -> "app.fn"; "SELECT 1" -> "").
//   INSERT INTO t, UPDATE [ONLY] t, DELETE FROM t, MERGE INTO t, TABLE t, CALL fn,
//   COPY t / COPY (query) -> the query's relation. WITH: the main statement's.
//   Names: schema-qualified kept ("public.v_user"), unquoted parts lower-cased, quoted parts
//   unquoted with case kept. "" when there is none (BEGIN, SET, SELECT 1...).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fraiseql::protocols::pgsql {

inline constexpr size_t kMaxSqlInput = 64 * 1024;
inline constexpr size_t kMaxNormalizedSize = 4096;

enum class QueryType {
  kSelect,
  kInsert,
  kUpdate,
  kDelete,
  kBegin,
  kCommit,
  kRollback,
  kSet,
  kCall,
  kCopy,
  kOther,
};

// "SELECT", "INSERT", ... "OTHER" (the query_type label values).
const char* ToString(QueryType t);

std::string NormalizeSql(std::string_view sql);
QueryType ClassifySql(std::string_view sql);
std::string MainRelation(std::string_view sql);

// Splits a simple-query string into its statements at top-level ";" (not inside literals,
// quoted identifiers, comments or dollar quotes), each trimmed of surrounding whitespace,
// without the ";". Statements made only of comments/whitespace are dropped, as the server
// does. Views into sql (only its first kMaxSqlInput bytes are split; the last statement then
// runs to the end of sql).
std::vector<std::string_view> SplitStatements(std::string_view sql);

}  // namespace fraiseql::protocols::pgsql
