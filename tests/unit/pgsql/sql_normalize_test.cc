// Normalization, classification and main relation: table tests incl. FraiseQL shapes.
#include "protocols/pgsql/sql_normalize.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace fraiseql::protocols::pgsql {
namespace {

struct Case {
  const char* sql;
  const char* normalized;
  QueryType type;
  const char* relation;
};

const Case kCases[] = {
    {"SELECT data FROM public.v_user WHERE id = $1", "SELECT data FROM public.v_user WHERE id = ?",
     QueryType::kSelect, "public.v_user"},
    {"SELECT * FROM app.fn_create_user($1::jsonb)", "SELECT * FROM app.fn_create_user(?::jsonb)",
     QueryType::kSelect, "app.fn_create_user"},
    {"SET LOCAL app.user_id = '42'", "SET LOCAL app.user_id = ?", QueryType::kSet, ""},
    {"SELECT 1", "SELECT ?", QueryType::kSelect, ""},
    {"BEGIN", "BEGIN", QueryType::kBegin, ""},
    {"COMMIT", "COMMIT", QueryType::kCommit, ""},
    {"ROLLBACK", "ROLLBACK", QueryType::kRollback, ""},
    {"INSERT INTO fraiseql_cache (key, value) VALUES ($1,$2) ON CONFLICT (key) DO UPDATE SET "
     "value = EXCLUDED.value",
     "INSERT INTO fraiseql_cache (key, value) VALUES (?,?) ON CONFLICT (key) DO UPDATE SET "
     "value = EXCLUDED.value",
     QueryType::kInsert, "fraiseql_cache"},
    {"select  id,\n\tname from   Items  where id in (1, 2, 3) -- trailing\n",
     "select id, name from Items where id in (?)", QueryType::kSelect, "items"},
    {"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, E'z\\'s')",
     "INSERT INTO t (a, b) VALUES (?, ?)", QueryType::kInsert, "t"},
    {"SELECT $body$ it's ; here $body$, $$x$$, 1.5e3, -7, .5 /* c /* nested */ */ FROM \"MyTable\"",
     "SELECT ?, ?, ?, -?, ? FROM \"MyTable\"", QueryType::kSelect, "MyTable"},
    {"UPDATE ONLY s.items SET name = $1 WHERE id = $2", "UPDATE ONLY s.items SET name = ? WHERE id = ?",
     QueryType::kUpdate, "s.items"},
    {"DELETE FROM \"Sch\".\"T\" WHERE a IN ($1, $2)", "DELETE FROM \"Sch\".\"T\" WHERE a IN (?)",
     QueryType::kDelete, "Sch.T"},
    {"WITH x AS (SELECT * FROM a) UPDATE b SET c = 1 FROM x", "WITH x AS (SELECT * FROM a) UPDATE b SET c = ? FROM x",
     QueryType::kUpdate, "b"},
    {"WITH RECURSIVE r(n) AS (VALUES (1) UNION SELECT n+1 FROM r) SELECT n FROM r",
     "WITH RECURSIVE r(n) AS (VALUES (?) UNION SELECT n+? FROM r) SELECT n FROM r", QueryType::kSelect,
     "r"},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
     QueryType::kBegin, ""},
    {"END", "END", QueryType::kCommit, ""},
    {"ABORT", "ABORT", QueryType::kRollback, ""},
    {"ROLLBACK TO SAVEPOINT sp1", "ROLLBACK TO SAVEPOINT sp1", QueryType::kOther, ""},
    {"SAVEPOINT sp1", "SAVEPOINT sp1", QueryType::kOther, ""},
    {"CALL app.do_it($1)", "CALL app.do_it(?)", QueryType::kCall, "app.do_it"},
    {"SELECT app.fn_update(42, 'x')", "SELECT app.fn_update(?, ?)", QueryType::kSelect, "app.fn_update"},
    {"COPY items (id, name) FROM STDIN", "COPY items (id, name) FROM STDIN", QueryType::kCopy, "items"},
    {"COPY (SELECT id FROM items ORDER BY id) TO STDOUT", "COPY (SELECT id FROM items ORDER BY id) TO STDOUT",
     QueryType::kCopy, "items"},
    {"SELECT count(*) FROM (SELECT * FROM inner_t) sub", "SELECT count(*) FROM (SELECT * FROM inner_t) sub",
     QueryType::kSelect, "inner_t"},
    {"SELECT TRUE, FALSE, NULL", "SELECT TRUE, FALSE, NULL", QueryType::kSelect, ""},
    {"  /* lead */ (SELECT 1)", "(SELECT ?)", QueryType::kSelect, ""},
    {"TABLE items", "TABLE items", QueryType::kSelect, "items"},
    {"CREATE TABLE t (id int)", "CREATE TABLE t (id int)", QueryType::kOther, ""},
    {"", "", QueryType::kOther, ""},
    {"LISTEN fql_channel", "LISTEN fql_channel", QueryType::kOther, ""},
};

TEST(SqlNormalize, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.sql);
    EXPECT_EQ(NormalizeSql(c.sql), c.normalized);
    EXPECT_STREQ(ToString(ClassifySql(c.sql)), ToString(c.type));
    EXPECT_EQ(MainRelation(c.sql), c.relation);
  }
}

TEST(SqlNormalize, SplitStatements) {
  auto v = SplitStatements("SELECT 1; SELECT 'a;b' ; -- only a comment\n; UPDATE t SET x = $$;$$");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], "SELECT 1");
  EXPECT_EQ(v[1], "SELECT 'a;b'");
  EXPECT_EQ(v[2], "UPDATE t SET x = $$;$$");
  EXPECT_TRUE(SplitStatements("").empty());
  EXPECT_TRUE(SplitStatements(" ; ;").empty());
}

TEST(SqlNormalize, BoundedOutput) {
  std::string big = "SELECT ";
  for (int i = 0; i < 100000; ++i) big += "col" + std::to_string(i) + ", ";
  const std::string n = NormalizeSql(big);
  EXPECT_LE(n.size(), kMaxNormalizedSize + 3);
  EXPECT_EQ(n.substr(n.size() - 3), "...");
}

TEST(SqlNormalize, AnyBytesNeverCrash) {
  std::mt19937 rng(5);
  const std::string alphabet = "'\"$;()-/*\\eE xX0123456789.,abcINVALUES\n\0";
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    const size_t n = rng() % 200;
    for (size_t k = 0; k < n; ++k) {
      s.push_back(rng() % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()]);
    }
    (void)NormalizeSql(s);
    (void)ClassifySql(s);
    (void)MainRelation(s);
    (void)SplitStatements(s);
  }
  // Unterminated constructs.
  EXPECT_EQ(NormalizeSql("SELECT 'abc"), "SELECT ?");
  EXPECT_EQ(NormalizeSql("SELECT $a$ never closed"), "SELECT ?");
  EXPECT_EQ(NormalizeSql("SELECT /* never closed"), "SELECT");
  EXPECT_EQ(MainRelation("SELECT * FROM ((((((((((x))))))))))"), "");
}

}  // namespace
}  // namespace fraiseql::protocols::pgsql
