// Who a request acts for, read only when the user opts in (--capture-identity): FraiseQL sets
// `SET LOCAL app.user_id = '…'` / `app.tenant_id` in each request's transaction, and bearer
// tokens are JWTs whose `sub` claim names the user. Only these values are kept (sanitized,
// bounded); the token itself and every other SQL literal are never stored.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fraiseql::handlers {

// The value a statement gives to the setting `name` (e.g. "app.user_id"): `SET [LOCAL|SESSION]
// name = 'v'` / `TO 'v'` / `= v`, or `SELECT set_config('name', 'v', …)`. Case-insensitive
// keywords and name; standard '' escapes. nullopt if the statement does not set it.
std::optional<std::string> SettingValue(std::string_view sql, std::string_view name);

// The `sub` claim of an `Authorization: Bearer <JWT>` header value (signature not checked:
// this labels a request, it authorizes nothing). nullopt if absent or not a JWT.
std::optional<std::string> JwtSubject(std::string_view authorization);

// Printable ASCII without quotes or backslashes, at most `max` bytes.
std::string SanitizeIdentity(std::string_view v, size_t max = 128);

}  // namespace fraiseql::handlers
