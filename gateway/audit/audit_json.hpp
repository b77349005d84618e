#pragma once
// Internal to gateway/audit: the JSON objects render_json writes, shared with the story view.

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/JSON/Object.h>
#pragma GCC diagnostic pop

#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/timezone.hpp"

namespace mugaika::gateway {

/// One event as in render_json (fields of AuditEvent, text as valid UTF-8). Thread-safe.
[[nodiscard]] Poco::JSON::Object::Ptr audit_event_json(const AuditEvent& e);

/// One message as in render_json: seq, audit_id, time (ISO 8601 with millis in `tz`), the
/// AuditMessage fields, row_hash and an "events" array. Thread-safe.
[[nodiscard]] Poco::JSON::Object::Ptr audit_row_json(const AuditRow& r, const TimeZone& tz);

} // namespace mugaika::gateway
