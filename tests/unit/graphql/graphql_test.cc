#include "protocols/graphql/graphql.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fraiseql::protocols::graphql {
namespace {

using Fields = std::vector<std::string>;

OperationInfo Analyze(std::string_view doc, std::optional<std::string_view> name = std::nullopt) {
  return AnalyzeDocument(doc, name);
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s);
  return out;
}

// ------------------------------------------------------------------------------------------
// SHA-256

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// ------------------------------------------------------------------------------------------
// Documents

TEST(Document, AnonymousShorthand) {
  const auto op = Analyze("{ a { b } }");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.error, "");
  EXPECT_EQ(op.type, OperationType::kQuery);
  EXPECT_EQ(op.name, "");
  EXPECT_EQ(op.root_fields, (Fields{"a"}));
  EXPECT_EQ(op.depth, 2u);
  EXPECT_EQ(op.fields, 2u);
  EXPECT_EQ(op.complexity, 2u);
}

TEST(Document, ComplexityExampleFromDocs) {
  const auto op = Analyze("{ users(first: 10) { id posts(first: 5) { id } } }");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.root_fields, (Fields{"users"}));
  EXPECT_EQ(op.depth, 3u);
  EXPECT_EQ(op.fields, 4u);
  EXPECT_EQ(op.complexity, 71u);
}

TEST(Document, MultipliersClampedAndVariablesCountOne) {
  // x: 1000 (clamped), y: 1 (0 clamped); F = id 1 + sub 1 + sub.id 4 = 6 per unit.
  const auto op = Analyze(
      "{ x(limit: 2000) { ...F } y(pageSize: 0) { ...F } }"
      " fragment F on T { id sub(last: 4) { id } }");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.fields, 8u);
  EXPECT_EQ(op.depth, 3u);
  EXPECT_EQ(op.complexity, 1u + 1000u * 6u + 1u + 6u);

  const auto var = Analyze("query Q($n: Int = 10) { items(first: $n) { id } }");
  ASSERT_TRUE(var.parsed) << var.error;
  EXPECT_EQ(var.complexity, 2u);
  // Several page arguments: the largest wins; other arguments are not multipliers.
  const auto two = Analyze("{ items(first: 3, last: 7, offset: 100) { id } }");
  EXPECT_EQ(two.complexity, 8u);
}

TEST(Document, MutationAndSubscription) {
  const auto m = Analyze(
      "mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id } }");
  ASSERT_TRUE(m.parsed) << m.error;
  EXPECT_EQ(m.type, OperationType::kMutation);
  EXPECT_EQ(m.name, "CreateUser");
  EXPECT_EQ(m.root_fields, (Fields{"createUser"}));
  EXPECT_STREQ(OperationTypeName(m.type), "mutation");

  const auto s = Analyze("subscription OnEvent { events { id kind } }");
  ASSERT_TRUE(s.parsed) << s.error;
  EXPECT_EQ(s.type, OperationType::kSubscription);
  EXPECT_EQ(s.name, "OnEvent");
  EXPECT_EQ(s.fields, 3u);
  EXPECT_STREQ(OperationTypeName(s.type), "subscription");
  EXPECT_STREQ(OperationTypeName(OperationType::kQuery), "query");
  EXPECT_STREQ(OperationTypeName(OperationType::kUnknown), "unknown");
}

TEST(Document, OperationNameSelection) {
  const std::string doc = "query A { a } query B { b1 b2 { c } } mutation C { c }";
  const auto b = Analyze(doc, "B");
  ASSERT_TRUE(b.parsed) << b.error;
  EXPECT_EQ(b.name, "B");
  EXPECT_EQ(b.type, OperationType::kQuery);
  EXPECT_EQ(b.root_fields, (Fields{"b1", "b2"}));
  EXPECT_EQ(b.fields, 3u);
  const auto c = Analyze(doc, "C");
  ASSERT_TRUE(c.parsed);
  EXPECT_EQ(c.type, OperationType::kMutation);
  EXPECT_EQ(c.root_fields, (Fields{"c"}));

  const auto missing = Analyze(doc);
  EXPECT_FALSE(missing.parsed);
  EXPECT_EQ(missing.error, "ambiguous_operation");
  EXPECT_EQ(Analyze(doc, "").error, "ambiguous_operation");  // empty name = absent
  const auto unknown = Analyze(doc, "D");
  EXPECT_FALSE(unknown.parsed);
  EXPECT_EQ(unknown.error, "unknown_operation_name");
  // One operation: the name must still match it (GraphQL spec GetOperation).
  EXPECT_EQ(Analyze("query A { a }", "B").error, "unknown_operation_name");
  EXPECT_TRUE(Analyze("query A { a }", "A").parsed);
  EXPECT_EQ(Analyze("query A { a } query A { b }", "A").error, "ambiguous_operation");
}

TEST(Document, NamedAndInlineFragments) {
  const auto op = Analyze(R"(
    query Q {
      user(id: 1) { ...UserParts ... on Admin { level } ... @include(if: true) { email } }
      __typename
    }
    fragment UserParts on User { id name friends(first: 3) { id } })");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.name, "Q");
  EXPECT_EQ(op.root_fields, (Fields{"user", "__typename"}));
  // user, id, name, friends, friends.id, level, email, __typename
  EXPECT_EQ(op.fields, 8u);
  EXPECT_EQ(op.depth, 3u);
  EXPECT_EQ(op.complexity, 7u + 3u);  // friends.id costs 3
}

TEST(Document, NestedFragmentsAnyOrderAndRootSpreads) {
  const auto op = Analyze(
      "fragment C on U { d } query { ...A ...A me { id } }"
      " fragment A on Query { a { ...B } } fragment B on T { b c { ...C } }");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.root_fields, (Fields{"a", "me"}));
  EXPECT_EQ(op.fields, 2u * 4u + 2u);  // A expanded twice: a b c d; me id
  EXPECT_EQ(op.depth, 3u);
  EXPECT_EQ(op.complexity, 10u);
}

TEST(Document, FragmentErrors) {
  EXPECT_EQ(Analyze("{ ...A } fragment A on Q { ...B } fragment B on Q { x { ...A } }").error,
            "fragment_cycle");
  EXPECT_EQ(Analyze("{ ...A } fragment A on Q { a { ...A } }").error, "fragment_cycle");
  // A cycle in an unused fragment is still an invalid document.
  EXPECT_EQ(Analyze("{ a } fragment A on Q { ...A }").error, "fragment_cycle");
  EXPECT_EQ(Analyze("{ ...Missing }").error, "unknown_fragment");
  EXPECT_EQ(Analyze("{ ...A } fragment A on Q { a } fragment A on Q { b }").error,
            "duplicate_fragment");
  EXPECT_EQ(Analyze("fragment A on Q { a }").error, "no_operation");
  EXPECT_EQ(Analyze("fragment on on Q { a } { a }").error, "syntax");
}

std::string Bomb(int levels) {
  std::string doc = "query Bomb { ...F" + std::to_string(levels - 1) + " } fragment F0 on Q { a }";
  for (int i = 1; i < levels; ++i) {
    doc += " fragment F" + std::to_string(i) + " on Q { ...F" + std::to_string(i - 1) + " ...F" +
           std::to_string(i - 1) + " }";
  }
  return doc;
}

TEST(Document, FragmentBombIsCountedNotExpanded) {
  const auto ten = Analyze(Bomb(10));
  ASSERT_TRUE(ten.parsed) << ten.error;
  EXPECT_EQ(ten.root_fields, (Fields{"a"}));
  EXPECT_EQ(ten.fields, 512u);
  EXPECT_EQ(ten.complexity, 512u);
  EXPECT_EQ(ten.depth, 1u);
  // 2^59 expanded fields: counted in linear time, saturated.
  const auto huge = Analyze(Bomb(60));
  ASSERT_TRUE(huge.parsed) << huge.error;
  EXPECT_EQ(huge.fields, UINT32_MAX);
  EXPECT_EQ(huge.complexity, kMaxComplexity);
  EXPECT_EQ(huge.root_fields, (Fields{"a"}));
}

TEST(Document, BlockStringsCommentsAndAllValueKinds) {
  const auto op = Analyze(
      "# leading comment\n"
      "query Q($s: String = \"\"\"a \"quoted\" \\\"\"\" block\n  spanning lines\"\"\", "
      "$l: [[Int!]!] = [[1]]) @dir(a: 1) { # trailing comment\n"
      "  search(text: \"esc \\\" \\\\ \\u00e9 \\n\", tags: [\"a\", \"b\"],,"
      " filter: {a: {b: [1, -2, 2.5e3, true, null, ENUM, $s]}}) @include(if: true) { id }\n"
      "}\n");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.name, "Q");
  EXPECT_EQ(op.root_fields, (Fields{"search"}));
  EXPECT_EQ(op.fields, 2u);
  // A '#' or braces inside strings are not comments or selections.
  const auto s = Analyze("{ a(x: \"# not a comment { \") { b } }");
  ASSERT_TRUE(s.parsed) << s.error;
  EXPECT_EQ(s.fields, 2u);
}

TEST(Document, AliasesUseFieldNames) {
  const auto op = Analyze("{ me: user(id: 1) { handle: name } other: user(id: 2) { id } }");
  ASSERT_TRUE(op.parsed) << op.error;
  EXPECT_EQ(op.root_fields, (Fields{"user"}));
  EXPECT_EQ(op.fields, 4u);
}

TEST(Document, SyntaxErrors) {
  for (const char* doc : {
           "",
           "   # only a comment",
           "{ a(x: \"abc) }",
           "{ a(x: \"\"\"abc) }",
           "{ a(x: \"line\nbreak\") }",
           "{ a(x: \"\\q\") }",
           "{ a { b }",
           "{ a } }",
           "{ }",
           "{ a(first: 01) }",
           "{ a(first: 1.) }",
           "{ a(first: 1x) }",
           "{ a() }",
           "query ($v: Int = $w) { a }",
           "type Query { a: Int }",
           "schema { query: Query }",
           "{ a } ..",
           "{ a ^ }",
       }) {
    const auto op = Analyze(doc);
    EXPECT_FALSE(op.parsed) << doc;
    EXPECT_EQ(op.error, "syntax") << doc;
  }
}

TEST(Document, NestingLimits) {
  const std::string ok = Repeat("{a ", kMaxNesting - 1) + "{b}" + Repeat("}", kMaxNesting - 1);
  const auto at_limit = Analyze(ok);
  ASSERT_TRUE(at_limit.parsed) << at_limit.error;
  EXPECT_EQ(at_limit.depth, kMaxNesting);

  const auto over = Analyze("{x " + ok + "}");
  EXPECT_FALSE(over.parsed);
  EXPECT_EQ(over.error, "too_deep");

  const auto deep = Analyze(Repeat("{a", 10'000) + Repeat("}", 10'000));
  EXPECT_EQ(deep.error, "too_deep");
  const auto deep_value = Analyze("{ a(x: " + Repeat("[", 10'000) + Repeat("]", 10'000) + ") }");
  EXPECT_EQ(deep_value.error, "too_deep");
  const auto deep_object = Analyze("{ a(x: " + Repeat("{a:", 10'000) + "1" + Repeat("}", 10'000) + ") }");
  EXPECT_EQ(deep_object.error, "too_deep");
  const auto deep_type = Analyze("query($v: " + Repeat("[", 10'000) + "Int" + Repeat("]", 10'000) + ") { a }");
  EXPECT_EQ(deep_type.error, "too_deep");
  // Unterminated deep nesting fails too, without recursing 10,000 times.
  EXPECT_EQ(Analyze(Repeat("{a", 10'000)).error, "too_deep");
}

TEST(Document, SizeLimit) {
  std::string big = "{ " + Repeat("a ", 400'000) + "}";  // ~800 KB: fine
  const auto ok = Analyze(big);
  ASSERT_TRUE(ok.parsed) << ok.error;
  EXPECT_EQ(ok.fields, 400'000u);
  EXPECT_EQ(ok.root_fields, (Fields{"a"}));

  std::string huge = "{ a }" + std::string(kMaxDocumentBytes, ' ');
  const auto too_large = Analyze(huge);
  EXPECT_FALSE(too_large.parsed);
  EXPECT_EQ(too_large.error, "too_large");
}

// ------------------------------------------------------------------------------------------
// Requests

constexpr const char* kJson = "application/json; charset=utf-8";

TEST(Request, PostJsonSingle) {
  const auto r = ParseRequest(
      "POST", "/graphql", kJson,
      R"({"query":"query GetUser($id: ID!) { user(id: $id) { id name } }",)"
      R"("operationName":"GetUser","variables":{"id":"42","deep":{"x":[1,2,{"y":3}]}}})",
      false);
  EXPECT_EQ(r.shape, RequestShape::kPostJson);
  EXPECT_STREQ(RequestShapeName(r.shape), "post_json");
  EXPECT_FALSE(r.malformed);
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(r.items.size(), 1u);
  const RequestItem& it = r.items[0];
  EXPECT_TRUE(it.has_query);
  EXPECT_EQ(it.operation_name, std::optional<std::string>("GetUser"));
  EXPECT_TRUE(it.has_variables);
  EXPECT_FALSE(it.persisted);
  EXPECT_EQ(it.persisted_hash, "");
  EXPECT_FALSE(it.hash_matches_query);
  ASSERT_TRUE(it.op.parsed) << it.op.error;
  EXPECT_EQ(it.op.name, "GetUser");
  EXPECT_EQ(it.op.root_fields, (Fields{"user"}));
  EXPECT_EQ(it.op.fields, 3u);
}

TEST(Request, PostJsonNullOperationNameAndNoVariables) {
  const auto r = ParseRequest("POST", "/api/graphql?x=1", "Application/JSON",
                              R"({"query":"{ me { id } }","operationName":null,"variables":null})", false);
  ASSERT_EQ(r.shape, RequestShape::kPostJson);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].operation_name, std::nullopt);
  EXPECT_FALSE(r.items[0].has_variables);
  EXPECT_TRUE(r.items[0].op.parsed);
  EXPECT_EQ(r.items[0].op.root_fields, (Fields{"me"}));
}

TEST(Request, PostJsonBatchOfThree) {
  const auto r = ParseRequest("POST", "/graphql", "application/json",
                              R"([{"query":"query A { a }"},)"
                              R"( {"query":"query X { x } query B { b }","operationName":"B"},)"
                              R"( {"query":"mutation C { c }","variables":{}}])",
                              false);
  EXPECT_EQ(r.shape, RequestShape::kPostJsonBatch);
  EXPECT_STREQ(RequestShapeName(r.shape), "post_json_batch");
  EXPECT_FALSE(r.malformed);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].op.name, "A");
  EXPECT_EQ(r.items[1].op.name, "B");
  EXPECT_EQ(r.items[1].op.root_fields, (Fields{"b"}));
  EXPECT_EQ(r.items[2].op.type, OperationType::kMutation);
  EXPECT_FALSE(r.items[0].has_variables);
  EXPECT_TRUE(r.items[2].has_variables);
}

TEST(Request, BatchLimitsAndMixedBatches) {
  std::string batch = "[";
  for (size_t i = 0; i <= kMaxBatchItems; ++i) batch += std::string(i ? "," : "") + R"({"query":"{a}"})";
  batch += "]";
  const auto over = ParseRequest("POST", "/graphql", kJson, batch, false);
  EXPECT_EQ(over.shape, RequestShape::kPostJsonBatch);
  EXPECT_TRUE(over.malformed);
  EXPECT_TRUE(over.items.empty());

  const auto mixed = ParseRequest("POST", "/graphql", kJson, R"([{"query":"{a}"},{"foo":1}])", false);
  EXPECT_EQ(mixed.shape, RequestShape::kPostJsonBatch);
  EXPECT_TRUE(mixed.malformed);
  EXPECT_TRUE(mixed.items.empty());

  const auto plain_array = ParseRequest("POST", "/api/items", kJson, "[1,2,3]", false);
  EXPECT_EQ(plain_array.shape, RequestShape::kNotGraphql);
}

TEST(Request, PostApplicationGraphql) {
  const auto r = ParseRequest("POST", "/graphql?operationName=B", "application/graphql",
                              "query A { a } query B { b { c } }", false);
  EXPECT_EQ(r.shape, RequestShape::kPostGraphql);
  EXPECT_STREQ(RequestShapeName(r.shape), "post_graphql");
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_TRUE(r.items[0].has_query);
  EXPECT_EQ(r.items[0].operation_name, std::optional<std::string>("B"));
  ASSERT_TRUE(r.items[0].op.parsed) << r.items[0].op.error;
  EXPECT_EQ(r.items[0].op.name, "B");
  EXPECT_EQ(r.items[0].op.depth, 2u);
}

TEST(Request, GetWithPercentEncodingAndPlus) {
  const auto r = ParseRequest(
      "GET", "/graphql?query=query%20Q%7B+me+%7B+id+%7D%7D&operationName=Q&variables=%7B%7D", "", "",
      false);
  EXPECT_EQ(r.shape, RequestShape::kGet);
  EXPECT_STREQ(RequestShapeName(r.shape), "get");
  ASSERT_EQ(r.items.size(), 1u);
  const auto& it = r.items[0];
  EXPECT_TRUE(it.has_query);
  EXPECT_EQ(it.operation_name, std::optional<std::string>("Q"));
  EXPECT_TRUE(it.has_variables);
  ASSERT_TRUE(it.op.parsed) << it.op.error;
  EXPECT_EQ(it.op.name, "Q");
  EXPECT_EQ(it.op.root_fields, (Fields{"me"}));
  EXPECT_EQ(it.op.fields, 2u);
}

TEST(Request, GetPersistedQueryHashOnly) {
  const std::string hash_upper = "ECF4EDB46DB40B5132295C0291D62FB65D6759A9EEDFA4D5D612DD5EC54A6B38";
  const std::string target =
      "/graphql?operationName=Me&variables=%7B%22a%22%3A1%7D&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%2C"
      "%22sha256Hash%22%3A%22" + hash_upper + "%22%7D%7D";
  const auto r = ParseRequest("GET", target, "", "", false);
  EXPECT_EQ(r.shape, RequestShape::kGet);
  EXPECT_FALSE(r.malformed);
  ASSERT_EQ(r.items.size(), 1u);
  const auto& it = r.items[0];
  EXPECT_FALSE(it.has_query);
  EXPECT_TRUE(it.persisted);
  EXPECT_EQ(it.persisted_hash, "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38");
  EXPECT_FALSE(it.hash_matches_query);
  EXPECT_FALSE(it.op.parsed);
  EXPECT_EQ(it.operation_name, std::optional<std::string>("Me"));
  EXPECT_TRUE(it.has_variables);

  const auto bad_ext = ParseRequest("GET", "/graphql?extensions=%7Bnope", "", "", false);
  EXPECT_EQ(bad_ext.shape, RequestShape::kGet);
  EXPECT_TRUE(bad_ext.malformed);
}

TEST(Request, PersistedQueriesWithQuery) {
  const std::string query = "query Me { me { id } }";
  const std::string good = Sha256Hex(query);
  const std::string other = Sha256Hex("something else");
  auto body = [&](const std::string& hash) {
    return R"({"query":")" + query + R"(","extensions":{"persistedQuery":{"version":1,"sha256Hash":")" +
           hash + R"("}}})";
  };
  const auto match = ParseRequest("POST", "/graphql", kJson, body(good), false);
  ASSERT_EQ(match.items.size(), 1u);
  EXPECT_TRUE(match.items[0].persisted);
  EXPECT_EQ(match.items[0].persisted_hash, good);
  EXPECT_TRUE(match.items[0].hash_matches_query);
  EXPECT_TRUE(match.items[0].op.parsed);

  const auto mismatch = ParseRequest("POST", "/graphql", kJson, body(other), false);
  ASSERT_EQ(mismatch.items.size(), 1u);
  EXPECT_EQ(mismatch.items[0].persisted_hash, other);
  EXPECT_FALSE(mismatch.items[0].hash_matches_query);

  const auto bad_hash = ParseRequest("POST", "/graphql", kJson, body("abc123"), false);
  ASSERT_EQ(bad_hash.items.size(), 1u);
  EXPECT_TRUE(bad_hash.items[0].persisted);
  EXPECT_EQ(bad_hash.items[0].persisted_hash, "");
  EXPECT_FALSE(bad_hash.items[0].hash_matches_query);

  // Hash only, POST, any path.
  const auto hash_only = ParseRequest(
      "POST", "/api", kJson,
      R"({"operationName":"Me","extensions":{"persistedQuery":{"version":1,"sha256Hash":")" + good + R"("}}})",
      false);
  EXPECT_EQ(hash_only.shape, RequestShape::kPostJson);
  ASSERT_EQ(hash_only.items.size(), 1u);
  EXPECT_FALSE(hash_only.items[0].has_query);
  EXPECT_TRUE(hash_only.items[0].persisted);
  EXPECT_EQ(hash_only.items[0].persisted_hash, good);
}

TEST(Request, NotGraphql) {
  EXPECT_EQ(ParseRequest("POST", "/api/users", kJson, R"({"name":"x"})", false).shape,
            RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("POST", "/graphql", kJson, R"({"name":"x"})", false).shape,
            RequestShape::kNotGraphql);
  // Search APIs: a "query" that is not a GraphQL document, off /graphql.
  EXPECT_EQ(ParseRequest("POST", "/search", kJson, R"({"query":"red shoes"})", false).shape,
            RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("POST", "/search", kJson, R"({"query":{"match":{"a":1}}})", false).shape,
            RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("GET", "/search?query=red+shoes", "", "", false).shape,
            RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("GET", "/graphql", "", "", false).shape, RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("PUT", "/graphql", kJson, R"({"query":"{a}"})", false).shape,
            RequestShape::kNotGraphql);
  EXPECT_EQ(ParseRequest("POST", "/graphql", "text/plain", R"({"query":"{a}"})", false).shape,
            RequestShape::kNotGraphql);
  // A real document off /graphql still counts.
  const auto api = ParseRequest("POST", "/api", kJson, R"({"query":"{ me { id } }"})", false);
  EXPECT_EQ(api.shape, RequestShape::kPostJson);
  ASSERT_EQ(api.items.size(), 1u);
  EXPECT_TRUE(api.items[0].op.parsed);
  const auto get_api = ParseRequest("GET", "/api?query=%7Bme%7D", "", "", false);
  EXPECT_EQ(get_api.shape, RequestShape::kGet);
}

TEST(Request, MalformedJsonAndEnvelopes) {
  const auto bad = ParseRequest("POST", "/graphql", kJson, R"({"query": "{ a }")", false);
  EXPECT_EQ(bad.shape, RequestShape::kPostJson);
  EXPECT_TRUE(bad.malformed);
  EXPECT_TRUE(bad.items.empty());
  const auto elsewhere = ParseRequest("POST", "/api", kJson, R"({"query": "{ a }")", false);
  EXPECT_EQ(elsewhere.shape, RequestShape::kNotGraphql);
  EXPECT_FALSE(elsewhere.malformed);

  for (const char* body : {
           R"({"query": 5})",
           R"({"query": "{a}", "variables": "x"})",
           R"({"query": "{a}", "operationName": 3})",
           R"({"query": "{a}", "extensions": []})",
           R"({"query": null})",
           R"("just a string")",
           R"({"query": "{a}"} trailing)",
           "{\"query\": \"\xff\"}",  // invalid UTF-8
           "[]",
       }) {
    const auto r = ParseRequest("POST", "/graphql", kJson, body, false);
    EXPECT_TRUE(r.malformed) << body;
    EXPECT_NE(r.shape, RequestShape::kNotGraphql) << body;
    EXPECT_TRUE(r.items.empty()) << body;
  }
}

TEST(Request, MalformedGraphqlIsParsedFalseNotMalformed) {
  const auto r = ParseRequest("POST", "/graphql", kJson, R"({"query":"{ a { b "})", false);
  EXPECT_FALSE(r.malformed);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_FALSE(r.items[0].op.parsed);
  EXPECT_EQ(r.items[0].op.error, "syntax");
  const auto u = ParseRequest("POST", "/graphql", kJson, R"({"query":"{ a(x: \"abc) }"})", false);
  ASSERT_EQ(u.items.size(), 1u);
  EXPECT_EQ(u.items[0].op.error, "syntax");
}

TEST(Request, DeepJson) {
  const std::string deep = Repeat("[", 10'000) + Repeat("]", 10'000);
  const auto r = ParseRequest("POST", "/graphql", kJson, deep, false);
  EXPECT_TRUE(r.malformed);
  EXPECT_TRUE(r.items.empty());
  EXPECT_EQ(ParseRequest("POST", "/api", kJson, deep, false).shape, RequestShape::kNotGraphql);
  const std::string deep_obj = Repeat(R"({"a":)", 10'000) + "1" + Repeat("}", 10'000);
  EXPECT_TRUE(ParseRequest("POST", "/graphql", kJson, deep_obj, false).malformed);
  // Variables are never kept, so their nesting costs nothing and is not an error.
  const auto vars = ParseRequest("POST", "/graphql", kJson,
                                 R"({"query":"{a}","variables":{"v":)" + deep + "}}", false);
  EXPECT_FALSE(vars.malformed);
  ASSERT_EQ(vars.items.size(), 1u);
  EXPECT_TRUE(vars.items[0].has_variables);
  // Unterminated deep JSON.
  EXPECT_TRUE(ParseRequest("POST", "/graphql", kJson, Repeat("[", 10'000), false).malformed);
}

TEST(Request, HugeDocument) {
  const std::string body = R"({"query":"{ a })" + std::string(kMaxDocumentBytes, ' ') + R"("})";
  const auto r = ParseRequest("POST", "/graphql", kJson, body, false);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_FALSE(r.items[0].op.parsed);
  EXPECT_EQ(r.items[0].op.error, "too_large");
  const auto g = ParseRequest("POST", "/graphql", "application/graphql",
                              "{ a }" + std::string(2 * kMaxDocumentBytes, ' '), false);
  ASSERT_EQ(g.items.size(), 1u);
  EXPECT_EQ(g.items[0].op.error, "too_large");
}

TEST(Request, TruncatedBodies) {
  const auto partial = ParseRequest("POST", "/graphql", kJson, R"({"query":"{ a }","variables":{"x":)", true);
  EXPECT_EQ(partial.shape, RequestShape::kPostJson);
  EXPECT_TRUE(partial.truncated);
  EXPECT_FALSE(partial.malformed);
  EXPECT_TRUE(partial.items.empty());

  const auto elsewhere = ParseRequest("POST", "/api", kJson, R"({"query":"{ a }",)", true);
  EXPECT_EQ(elsewhere.shape, RequestShape::kNotGraphql);
  EXPECT_TRUE(elsewhere.truncated);

  const auto complete = ParseRequest("POST", "/graphql", kJson, R"({"query":"{ a }"})", true);
  EXPECT_EQ(complete.shape, RequestShape::kPostJson);
  EXPECT_TRUE(complete.truncated);
  ASSERT_EQ(complete.items.size(), 1u);
  EXPECT_TRUE(complete.items[0].op.parsed);

  const auto gql = ParseRequest("POST", "/graphql", "application/graphql", "{ a { b", true);
  EXPECT_EQ(gql.shape, RequestShape::kPostGraphql);
  EXPECT_TRUE(gql.truncated);
  EXPECT_TRUE(gql.items.empty());
}

// ------------------------------------------------------------------------------------------
// Responses

TEST(Response, DataOnly) {
  const auto r = ParseResponse(kJson, "", R"({"data":{"user":{"id":"1","tags":[1,2]}}})", false);
  EXPECT_TRUE(r.json);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_TRUE(r.items[0].has_data);
  EXPECT_EQ(r.items[0].error_count, 0u);
  EXPECT_FALSE(r.items[0].persisted_query_not_found);
  EXPECT_EQ(r.items[0].mode, "");
  EXPECT_STREQ(Outcome(200, &r.items[0], true), "success");
}

TEST(Response, ErrorsWithAndWithoutData) {
  const auto none = ParseResponse(kJson, "", R"({"data":null,"errors":[{"message":"boom"}]})", false);
  ASSERT_EQ(none.items.size(), 1u);
  EXPECT_FALSE(none.items[0].has_data);
  EXPECT_EQ(none.items[0].error_count, 1u);
  EXPECT_STREQ(Outcome(200, &none.items[0], true), "error");

  const auto partial = ParseResponse(
      "application/graphql-response+json", "identity",
      R"({"data":{"a":1,"b":null},"errors":[{"message":"x","path":["b"]},{"message":"y"}]})", false);
  EXPECT_TRUE(partial.json);
  ASSERT_EQ(partial.items.size(), 1u);
  EXPECT_TRUE(partial.items[0].has_data);
  EXPECT_EQ(partial.items[0].error_count, 2u);
  EXPECT_STREQ(Outcome(200, &partial.items[0], true), "partial");
  EXPECT_STREQ(Outcome(500, &partial.items[0], true), "error");
}

TEST(Response, PersistedQueryNotFound) {
  for (const char* body : {
           R"({"errors":[{"message":"PersistedQueryNotFound"}]})",
           R"({"errors":[{"message":"PERSISTED_QUERY_NOT_FOUND"}]})",
           R"({"errors":[{"message":"x"},{"message":"y","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]})",
       }) {
    const auto r = ParseResponse(kJson, "", body, false);
    ASSERT_EQ(r.items.size(), 1u) << body;
    EXPECT_TRUE(r.items[0].persisted_query_not_found) << body;
    EXPECT_FALSE(r.items[0].has_data);
  }
  const auto other = ParseResponse(kJson, "", R"({"errors":[{"message":"PersistedQueryNotSupported"}]})", false);
  ASSERT_EQ(other.items.size(), 1u);
  EXPECT_FALSE(other.items[0].persisted_query_not_found);
}

TEST(Response, Batch) {
  const auto r = ParseResponse(kJson, "",
                               R"([{"data":{"a":1}},{"errors":[{"message":"e"}]},{"data":null},7])", false);
  EXPECT_TRUE(r.json);
  ASSERT_EQ(r.items.size(), 4u);
  EXPECT_TRUE(r.items[0].has_data);
  EXPECT_EQ(r.items[1].error_count, 1u);
  EXPECT_FALSE(r.items[2].has_data);
  EXPECT_FALSE(r.items[3].has_data);  // not an object: an empty item
  std::string big = "[";
  for (size_t i = 0; i < 150; ++i) big += std::string(i ? "," : "") + R"({"data":{}})";
  big += "]";
  const auto capped = ParseResponse(kJson, "", big, false);
  EXPECT_TRUE(capped.json);
  EXPECT_EQ(capped.items.size(), kMaxBatchItems);
}

TEST(Response, ExecutionMode) {
  auto mode = [](const std::string& m) {
    const auto r = ParseResponse(kJson, "", R"({"data":{},"extensions":{"execution":{"mode":)" + m + "}}}", false);
    return r.items.empty() ? std::string("<none>") : r.items[0].mode;
  };
  EXPECT_EQ(mode(R"("turbo_router")"), "turbo_router");
  EXPECT_EQ(mode(R"("passthrough")"), "passthrough");
  EXPECT_EQ(mode(R"("with space")"), "other");
  EXPECT_EQ(mode(R"(")" + std::string(33, 'a') + R"(")"), "other");
  EXPECT_EQ(mode(R"(")" + std::string(32, 'a') + R"(")"), std::string(32, 'a'));
  EXPECT_EQ(mode(R"("")"), "other");
  EXPECT_EQ(mode("5"), "");
}

TEST(Response, NotParsed) {
  const std::string body = R"({"data":{"a":1}})";
  const auto gz = ParseResponse(kJson, "gzip", body, false);
  EXPECT_FALSE(gz.json);
  EXPECT_TRUE(gz.items.empty());
  EXPECT_FALSE(ParseResponse(kJson, "br", body, false).json);
  EXPECT_TRUE(ParseResponse(kJson, "Identity", body, false).json);
  EXPECT_TRUE(ParseResponse("", "", body, false).json);
  EXPECT_FALSE(ParseResponse("text/html", "", body, false).json);
  EXPECT_FALSE(ParseResponse(kJson, "", R"({"data":)", false).json);
  EXPECT_FALSE(ParseResponse(kJson, "", "42", false).json);
  const auto trunc = ParseResponse(kJson, "", R"({"data":{"a":[1,2)", true);
  EXPECT_FALSE(trunc.json);
  EXPECT_TRUE(trunc.truncated);
  EXPECT_TRUE(trunc.items.empty());
  const auto trunc_complete = ParseResponse(kJson, "", body, true);
  EXPECT_TRUE(trunc_complete.json);
  EXPECT_TRUE(trunc_complete.truncated);
}

TEST(Response, DeepJson) {
  // Deep data is not kept, so it is fine; deep errors are not.
  const auto data = ParseResponse(kJson, "", R"({"data":)" + Repeat("[", 10'000) + Repeat("]", 10'000) + "}", false);
  EXPECT_TRUE(data.json);
  ASSERT_EQ(data.items.size(), 1u);
  EXPECT_TRUE(data.items[0].has_data);
  const auto errors = ParseResponse(
      kJson, "", R"({"errors":[{"message":"x","extensions":)" + Repeat(R"({"a":)", 10'000) + "1" +
                     Repeat("}", 10'000) + "}]}",
      false);
  EXPECT_FALSE(errors.json);
  EXPECT_FALSE(ParseResponse(kJson, "", Repeat("[", 10'000) + Repeat("]", 10'000), false).json);
}

// ------------------------------------------------------------------------------------------
// Outcome and label

TEST(Outcome, Rules) {
  ResponseItem ok;
  ResponseItem partial;
  partial.has_data = true;
  partial.error_count = 1;
  ResponseItem failed;
  failed.error_count = 2;
  EXPECT_STREQ(Outcome(200, &ok, true), "success");
  EXPECT_STREQ(Outcome(200, &partial, true), "partial");
  EXPECT_STREQ(Outcome(200, &failed, true), "error");
  EXPECT_STREQ(Outcome(400, &ok, true), "error");
  EXPECT_STREQ(Outcome(200, &ok, false), "error");
  EXPECT_STREQ(Outcome(200, nullptr, true), "success");
  EXPECT_STREQ(Outcome(502, nullptr, true), "error");
}

TEST(OperationLabel, NameRootFieldsAnonymous) {
  EXPECT_EQ(OperationLabel(Analyze("query GetUser { user { id } }")), "GetUser");
  EXPECT_EQ(OperationLabel(Analyze("{ users { id } posts { id } users { name } }")), "users,posts");
  EXPECT_EQ(OperationLabel(OperationInfo{}), "anonymous");
  OperationInfo weird;
  weird.name = "we!rd-name é";
  EXPECT_EQ(OperationLabel(weird), "we_rd_name___");
  OperationInfo long_name;
  long_name.name = std::string(150, 'x');
  EXPECT_EQ(OperationLabel(long_name), std::string(kMaxLabelBytes, 'x'));
  OperationInfo many;
  for (int i = 0; i < 30; ++i) many.root_fields.push_back("field" + std::to_string(i));
  const std::string label = OperationLabel(many);
  EXPECT_EQ(label.size(), kMaxLabelBytes);
  EXPECT_EQ(label.rfind("field0,field1,field2,", 0), 0u);
  OperationInfo odd_fields;
  odd_fields.root_fields = {"a b", "c"};
  EXPECT_EQ(OperationLabel(odd_fields), "a_b,c");
}

}  // namespace
}  // namespace fraiseql::protocols::graphql
