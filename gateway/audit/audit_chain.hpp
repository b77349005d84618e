#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/audit/audit_store.hpp"

namespace mugaika::gateway {

/// prev_hash of the first row in the chain: 64 ASCII zeros.
inline constexpr std::string_view audit_genesis_hash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain-separation tags, the first field of every hashed row (docs/audit.md).
inline constexpr std::string_view audit_message_tag = "mugaika.audit.message.v1";
inline constexpr std::string_view audit_event_tag = "mugaika.audit.event.v1";

/// The stored form of `rcpt_to`: a JSON array of strings. The row hash covers this text byte for
/// byte, so it is written once and never re-serialized. Throws only std::bad_alloc.
[[nodiscard]] std::string audit_rcpt_to_json(const std::vector<std::string>& rcpt_to);

/// Parses the stored `rcpt_to` text; fails with "audit.query_failed" if it is not an array of
/// strings (only a tampered database can contain that).
[[nodiscard]] filters::Result<std::vector<std::string>> audit_rcpt_to_parse(std::string_view json);

/// Lower-case hex SHA-256 of the canonical serialization of a message row (docs/audit.md):
/// length-prefixed fields (8-byte big-endian length, then the bytes), integers in decimal.
/// `m.rcpt_to` and `m.events` are ignored: the row carries `rcpt_json` and `event_count` instead.
/// Sizes are hashed as their signed 64-bit stored value. Thread-safe (no shared state).
[[nodiscard]] std::string audit_message_row_hash(const AuditMessage& m, std::string_view rcpt_json,
                                                 std::int64_t seq, std::int64_t event_count,
                                                 std::string_view prev_hash);

/// Lower-case hex SHA-256 of the canonical serialization of an event row; `idx` is the event's
/// 0-based position within its message. Thread-safe.
[[nodiscard]] std::string audit_event_row_hash(const AuditEvent& e, std::int64_t seq,
                                               std::int64_t message_seq, std::int64_t idx,
                                               std::string_view prev_hash);

} // namespace mugaika::gateway
