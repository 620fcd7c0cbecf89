// GraphQL executable documents (spec, October 2021): a small lexer and recursive-descent parser
// into a flat AST of selection sets, then operation selection, fragment validation (duplicates,
// unknown spreads, cycles) and memoised counting of depth / fields / complexity.
//
// Recursion is bounded: every recursive call enters a nesting construct (selection set, list or
// object value, list type) and nesting beyond kMaxNesting is an error. Fragments are never
// expanded by recursion: their statistics are computed once each, in dependency order.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "protocols/graphql/document_lexer.h"
#include "protocols/graphql/graphql.h"

namespace fraiseql::protocols::graphql {
namespace {

using internal::Lexer;
using internal::Tok;
using internal::Token;

// ---------------------------------------------------------------------------------------------
// AST

struct Sel {
  enum Kind : uint8_t { kField, kSpread, kInline };
  Kind kind = kField;
  std::string_view name;    // field name or fragment name
  uint64_t multiplier = 1;  // page-size multiplier of a field
  int32_t set = -1;         // child selection set, -1 if none
};

struct OpDef {
  OperationType type = OperationType::kQuery;
  std::string_view name;
  int32_t set = -1;
};

struct FragDef {
  std::string_view name;
  int32_t set = -1;
};

struct Doc {
  std::vector<std::vector<Sel>> sets;
  std::vector<OpDef> ops;
  std::vector<FragDef> frags;
};

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
 public:
  Parser(std::string_view s, Doc* doc) : lex_(s), doc_(doc) {}

  // Parses the whole document; on failure returns false with error().
  bool ParseDocument() {
    if (!Advance()) return false;
    if (tok_.kind == Tok::kEof) return Fail("syntax");  // Definition+ required
    while (tok_.kind != Tok::kEof) {
      if (!ParseDefinition()) return false;
    }
    return true;
  }

  const char* error() const { return error_; }

 private:
  bool Fail(const char* e) {
    if (error_ == nullptr) error_ = e;
    return false;
  }
  bool Advance() { return lex_.Next(&tok_) || Fail("syntax"); }
  bool IsPunct(std::string_view p) const { return tok_.kind == Tok::kPunct && tok_.text == p; }
  bool Expect(std::string_view p) { return IsPunct(p) ? Advance() : Fail("syntax"); }
  bool ExpectName(std::string_view* out) {
    if (tok_.kind != Tok::kName) return Fail("syntax");
    if (out != nullptr) *out = tok_.text;
    return Advance();
  }
  bool Enter() { return ++nesting_ <= kMaxNesting || Fail("too_deep"); }
  void Leave() { --nesting_; }

  bool ParseDefinition() {
    if (IsPunct("{")) {  // query shorthand
      OpDef op;
      if (!ParseSelectionSet(&op.set)) return false;
      doc_->ops.push_back(op);
      return true;
    }
    if (tok_.kind != Tok::kName) return Fail("syntax");
    if (tok_.text == "fragment") {
      FragDef f;
      if (!Advance() || tok_.kind != Tok::kName || tok_.text == "on") return Fail("syntax");
      f.name = tok_.text;
      if (!Advance()) return false;
      if (tok_.kind != Tok::kName || tok_.text != "on") return Fail("syntax");
      if (!Advance() || !ExpectName(nullptr)) return false;
      if (!ParseDirectives(false) || !ParseSelectionSet(&f.set)) return false;
      doc_->frags.push_back(f);
      return true;
    }
    OpDef op;
    if (tok_.text == "query") {
      op.type = OperationType::kQuery;
    } else if (tok_.text == "mutation") {
      op.type = OperationType::kMutation;
    } else if (tok_.text == "subscription") {
      op.type = OperationType::kSubscription;
    } else {
      return Fail("syntax");  // type-system definitions and anything else
    }
    if (!Advance()) return false;
    if (tok_.kind == Tok::kName) {
      op.name = tok_.text;
      if (!Advance()) return false;
    }
    if (IsPunct("(") && !ParseVariableDefinitions()) return false;
    if (!ParseDirectives(false) || !ParseSelectionSet(&op.set)) return false;
    doc_->ops.push_back(op);
    return true;
  }

  bool ParseVariableDefinitions() {
    if (!Expect("(")) return false;
    do {
      if (!Expect("$") || !ExpectName(nullptr) || !Expect(":") || !ParseType()) return false;
      if (IsPunct("=")) {
        if (!Advance() || !ParseValue(true, nullptr)) return false;
      }
      if (!ParseDirectives(true)) return false;
    } while (!IsPunct(")"));
    return Advance();
  }

  bool ParseType() {
    if (IsPunct("[")) {
      if (!Enter()) return false;
      if (!Advance() || !ParseType() || !Expect("]")) return false;
      Leave();
    } else if (!ExpectName(nullptr)) {
      return false;
    }
    if (IsPunct("!")) return Advance();
    return true;
  }

  bool ParseDirectives(bool is_const) {
    while (IsPunct("@")) {
      if (!Advance() || !ExpectName(nullptr)) return false;
      if (IsPunct("(") && !ParseArguments(is_const, nullptr)) return false;
    }
    return true;
  }

  // Arguments; *multiplier (if given) gets the page-size multiplier (max over first/last/limit/
  // pageSize integer literals, clamped to 1..kMaxPageMultiplier; 1 if none).
  bool ParseArguments(bool is_const, uint64_t* multiplier) {
    if (!Expect("(")) return false;
    do {
      std::string_view name;
      if (!ExpectName(&name) || !Expect(":")) return false;
      const bool page = name == "first" || name == "last" || name == "limit" || name == "pageSize";
      uint64_t v = 0;
      if (!ParseValue(is_const, page ? &v : nullptr)) return false;
      if (page && multiplier != nullptr && v > 0) {
        *multiplier = std::max(*multiplier, std::min<uint64_t>(v, kMaxPageMultiplier));
      }
    } while (!IsPunct(")"));
    return Advance();
  }

  // A value; *int_value (if given) gets a positive integer literal's value (saturated), else 0.
  bool ParseValue(bool is_const, uint64_t* int_value) {
    if (int_value != nullptr) *int_value = 0;
    if (IsPunct("$")) {
      if (is_const) return Fail("syntax");
      return Advance() && ExpectName(nullptr);
    }
    if (IsPunct("[") || IsPunct("{")) {
      const bool list = IsPunct("[");
      if (!Enter() || !Advance()) return false;
      while (!IsPunct(list ? "]" : "}")) {
        if (!list && (!ExpectName(nullptr) || !Expect(":"))) return false;
        if (!ParseValue(is_const, nullptr)) return false;
      }
      Leave();
      return Advance();
    }
    switch (tok_.kind) {
      case Tok::kInt:
        if (int_value != nullptr && tok_.text[0] != '-') {
          uint64_t v = 0;
          for (char c : tok_.text) v = std::min<uint64_t>(v * 10 + (c - '0'), 1000000000ULL);
          *int_value = v;
        }
        return Advance();
      case Tok::kFloat:
      case Tok::kString:
      case Tok::kName:  // true, false, null, enum values
        return Advance();
      default:
        return Fail("syntax");
    }
  }

  bool ParseSelectionSet(int32_t* out) {
    if (!IsPunct("{")) return Fail("syntax");
    if (!Enter() || !Advance()) return false;
    std::vector<Sel> sels;
    do {
      Sel sel;
      if (IsPunct("...")) {
        if (!Advance()) return false;
        if (tok_.kind == Tok::kName && tok_.text != "on") {
          sel.kind = Sel::kSpread;
          sel.name = tok_.text;
          if (!Advance() || !ParseDirectives(false)) return false;
        } else {
          sel.kind = Sel::kInline;
          if (tok_.kind == Tok::kName) {  // "on" NamedType
            if (!Advance() || !ExpectName(nullptr)) return false;
          }
          if (!ParseDirectives(false) || !ParseSelectionSet(&sel.set)) return false;
        }
      } else {
        sel.kind = Sel::kField;
        if (!ExpectName(&sel.name)) return false;
        if (IsPunct(":")) {  // the first name was an alias
          if (!Advance() || !ExpectName(&sel.name)) return false;
        }
        if (IsPunct("(") && !ParseArguments(false, &sel.multiplier)) return false;
        if (!ParseDirectives(false)) return false;
        if (IsPunct("{") && !ParseSelectionSet(&sel.set)) return false;
      }
      sels.push_back(sel);
    } while (!IsPunct("}"));
    Leave();
    doc_->sets.push_back(std::move(sels));
    *out = static_cast<int32_t>(doc_->sets.size() - 1);
    return Advance();
  }

  Lexer lex_;
  Doc* doc_;
  Token tok_;
  uint32_t nesting_ = 0;
  const char* error_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Analysis

uint64_t SatAdd(uint64_t a, uint64_t b, uint64_t cap) { return a >= cap - std::min(b, cap) ? cap : a + b; }
uint64_t SatMul(uint64_t a, uint64_t b, uint64_t cap) {
  if (a == 0 || b == 0) return 0;
  return a > cap / b ? cap : std::min(a * b, cap);
}

constexpr uint64_t kMaxCount = std::numeric_limits<uint32_t>::max();

struct Stats {
  uint64_t fields = 0;      // saturates at kMaxCount
  uint64_t depth = 0;       // saturates at kMaxCount
  uint64_t complexity = 0;  // saturates at kMaxComplexity
};

void Merge(Stats* into, const Stats& s) {
  into->fields = SatAdd(into->fields, s.fields, kMaxCount);
  into->depth = std::max(into->depth, s.depth);
  into->complexity = SatAdd(into->complexity, s.complexity, kMaxComplexity);
}

class Analyzer {
 public:
  explicit Analyzer(const Doc& doc) : doc_(doc) {}

  // Indexes fragments, checks spreads and cycles, computes every fragment's statistics.
  // Returns nullptr or an error.
  const char* Prepare() {
    for (size_t i = 0; i < doc_.frags.size(); ++i) {
      if (!frag_index_.emplace(doc_.frags[i].name, i).second) return "duplicate_fragment";
    }
    deps_.resize(doc_.frags.size());
    for (size_t i = 0; i < doc_.frags.size(); ++i) {
      if (!CollectSpreads(doc_.frags[i].set, &deps_[i])) return "unknown_fragment";
    }
    for (const OpDef& op : doc_.ops) {
      std::vector<size_t> unused;
      if (!CollectSpreads(op.set, &unused)) return "unknown_fragment";
    }
    std::vector<size_t> order;
    if (!TopoSort(&order)) return "fragment_cycle";
    frag_stats_.resize(doc_.frags.size());
    for (size_t f : order) frag_stats_[f] = SetStats(doc_.frags[f].set);
    return nullptr;
  }

  // Statistics of a selection set; fragments must have been prepared.
  // Recursion is bounded by the syntactic nesting limit.
  Stats SetStats(int32_t set) const {
    Stats total;
    for (const Sel& sel : doc_.sets[set]) {
      switch (sel.kind) {
        case Sel::kField: {
          Stats child = sel.set >= 0 ? SetStats(sel.set) : Stats{};
          Stats mine;
          mine.fields = SatAdd(child.fields, 1, kMaxCount);
          mine.depth = SatAdd(child.depth, 1, kMaxCount);
          mine.complexity =
              SatAdd(SatMul(child.complexity, sel.multiplier, kMaxComplexity), 1, kMaxComplexity);
          Merge(&total, mine);
          break;
        }
        case Sel::kSpread:
          Merge(&total, frag_stats_[frag_index_.at(sel.name)]);
          break;
        case Sel::kInline:
          Merge(&total, SetStats(sel.set));
          break;
      }
    }
    return total;
  }

  // Top-level field names of a selection set, fragments expanded, in order, deduplicated.
  // Iterative; each fragment's top level is walked at most once.
  std::vector<std::string> RootFields(int32_t set) const {
    std::vector<std::string> out;
    std::unordered_set<std::string_view> seen;
    std::vector<bool> frag_done(doc_.frags.size(), false);
    std::vector<std::pair<int32_t, size_t>> stack = {{set, 0}};
    while (!stack.empty()) {
      auto& [s, i] = stack.back();
      if (i >= doc_.sets[s].size()) {
        stack.pop_back();
        continue;
      }
      const Sel& sel = doc_.sets[s][i++];
      if (sel.kind == Sel::kField) {
        if (seen.insert(sel.name).second) out.emplace_back(sel.name);
      } else if (sel.kind == Sel::kInline) {
        stack.emplace_back(sel.set, 0);
      } else {
        const size_t f = frag_index_.at(sel.name);
        if (!frag_done[f]) {
          frag_done[f] = true;
          stack.emplace_back(doc_.frags[f].set, 0);
        }
      }
    }
    return out;
  }

 private:
  // Appends the fragments spread anywhere in set (recursion bounded by nesting).
  bool CollectSpreads(int32_t set, std::vector<size_t>* out) const {
    for (const Sel& sel : doc_.sets[set]) {
      if (sel.kind == Sel::kSpread) {
        auto it = frag_index_.find(sel.name);
        if (it == frag_index_.end()) return false;
        out->push_back(it->second);
      } else if (sel.set >= 0 && !CollectSpreads(sel.set, out)) {
        return false;
      }
    }
    return true;
  }

  // Iterative DFS; order gets fragments after all fragments they spread. False on a cycle.
  bool TopoSort(std::vector<size_t>* order) const {
    enum : uint8_t { kWhite, kGray, kBlack };
    std::vector<uint8_t> color(doc_.frags.size(), kWhite);
    std::vector<std::pair<size_t, size_t>> stack;
    for (size_t root = 0; root < doc_.frags.size(); ++root) {
      if (color[root] != kWhite) continue;
      color[root] = kGray;
      stack.emplace_back(root, 0);
      while (!stack.empty()) {
        auto& [f, next] = stack.back();
        if (next < deps_[f].size()) {
          const size_t d = deps_[f][next++];
          if (color[d] == kGray) return false;
          if (color[d] == kWhite) {
            color[d] = kGray;
            stack.emplace_back(d, 0);
          }
        } else {
          color[f] = kBlack;
          order->push_back(f);
          stack.pop_back();
        }
      }
    }
    return true;
  }

  const Doc& doc_;
  std::unordered_map<std::string_view, size_t> frag_index_;
  std::vector<std::vector<size_t>> deps_;
  std::vector<Stats> frag_stats_;
};

}  // namespace

const char* OperationTypeName(OperationType t) {
  switch (t) {
    case OperationType::kQuery: return "query";
    case OperationType::kMutation: return "mutation";
    case OperationType::kSubscription: return "subscription";
    case OperationType::kUnknown: break;
  }
  return "unknown";
}

OperationInfo AnalyzeDocument(std::string_view document,
                              std::optional<std::string_view> operation_name) {
  OperationInfo info;
  if (document.size() > kMaxDocumentBytes) {
    info.error = "too_large";
    return info;
  }
  Doc doc;
  Parser parser(document, &doc);
  if (!parser.ParseDocument()) {
    info.error = parser.error();
    return info;
  }
  if (doc.ops.empty()) {
    info.error = "no_operation";
    return info;
  }
  const OpDef* op = nullptr;
  if (operation_name.has_value() && !operation_name->empty()) {
    for (const OpDef& o : doc.ops) {
      if (o.name != *operation_name) continue;
      if (op != nullptr) {
        info.error = "ambiguous_operation";  // two operations with the requested name
        return info;
      }
      op = &o;
    }
    if (op == nullptr) {
      info.error = "unknown_operation_name";
      return info;
    }
  } else if (doc.ops.size() == 1) {
    op = &doc.ops[0];
  } else {
    info.error = "ambiguous_operation";
    return info;
  }
  info.type = op->type;
  info.name = std::string(op->name);

  Analyzer analyzer(doc);
  if (const char* err = analyzer.Prepare()) {
    info.error = err;
    return info;
  }
  const Stats s = analyzer.SetStats(op->set);
  info.root_fields = analyzer.RootFields(op->set);
  info.fields = static_cast<uint32_t>(s.fields);
  info.depth = static_cast<uint32_t>(s.depth);
  info.complexity = s.complexity;
  info.parsed = true;
  return info;
}

}  // namespace fraiseql::protocols::graphql
