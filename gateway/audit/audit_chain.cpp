#include "gateway/audit/audit_chain.hpp"

#include <array>
#include <sstream>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include "gateway/util/sha256.hpp"
#pragma GCC diagnostic pop

namespace mugaika::gateway {
namespace {

/// Feeds length-prefixed fields into SHA-256.
class FieldHasher {
public:
    FieldHasher() = default;

    void text(std::string_view v) {
        std::array<unsigned char, 8> len{};
        auto n = static_cast<std::uint64_t>(v.size());
        for (std::size_t i = 0; i < len.size(); ++i) {
            len[len.size() - 1 - i] = static_cast<unsigned char>(n & 0xffU);
            n >>= 8U;
        }
        engine_.update(len.data(), len.size());
        engine_.update(v.data(), v.size());
    }
    void integer(std::int64_t v) { text(std::to_string(v)); }
    void size(std::uint64_t v) { integer(static_cast<std::int64_t>(v)); }

    [[nodiscard]] std::string hex() { return engine_.hex(); }

private:
    Sha256 engine_;
};

} // namespace

std::string audit_rcpt_to_json(const std::vector<std::string>& rcpt_to) {
    Poco::JSON::Array a;
    for (const auto& r : rcpt_to) {
        a.add(r);
    }
    std::ostringstream os;
    a.stringify(os);
    return os.str();
}

filters::Result<std::vector<std::string>> audit_rcpt_to_parse(std::string_view json) {
    try {
        Poco::JSON::Parser parser;
        const auto parsed = parser.parse(std::string(json));
        const auto array = parsed.extract<Poco::JSON::Array::Ptr>();
        std::vector<std::string> out;
        out.reserve(array->size());
        for (unsigned i = 0; i < array->size(); ++i) {
            const auto v = array->get(i);
            if (!v.isString()) {
                return filters::fail(filters::ErrorCode::Malformed, "audit.query_failed",
                                     "rcpt_to holds a non-string element");
            }
            out.push_back(v.extract<std::string>());
        }
        return out;
    } catch (const Poco::Exception& e) {
        return filters::fail(filters::ErrorCode::Malformed, "audit.query_failed",
                             "rcpt_to is not a JSON array of strings: " + e.displayText());
    }
}

std::string audit_message_row_hash(const AuditMessage& m, std::string_view rcpt_json,
                                   std::int64_t seq, std::int64_t event_count,
                                   std::string_view prev_hash) {
    FieldHasher h;
    h.text(audit_message_tag);
    h.integer(seq);
    h.text(m.audit_id);
    h.integer(m.time_unix_ms);
    h.text(m.direction);
    h.text(m.client_addr);
    h.text(m.helo);
    h.text(m.queue_id);
    h.text(m.mail_from);
    h.text(rcpt_json);
    h.text(m.message_id);
    h.text(m.subject);
    h.text(m.from_header);
    h.size(m.size_in);
    h.size(m.size_out);
    h.text(m.sha256_in);
    h.text(m.sha256_out);
    h.text(m.verdict);
    h.text(m.action);
    h.text(m.reason);
    h.text(m.ruleset_version);
    h.text(m.quarantine_id);
    h.integer(m.duration_us);
    h.integer(event_count);
    h.text(prev_hash);
    return h.hex();
}

std::string audit_event_row_hash(const AuditEvent& e, std::int64_t seq, std::int64_t message_seq,
                                 std::int64_t idx, std::string_view prev_hash) {
    FieldHasher h;
    h.text(audit_event_tag);
    h.integer(seq);
    h.integer(message_seq);
    h.integer(idx);
    h.text(e.part_path);
    h.text(e.filename);
    h.text(e.declared_type);
    h.text(e.detected_type);
    h.size(e.size);
    h.text(e.sha256_before);
    h.text(e.sha256_after);
    h.text(e.filter);
    h.text(e.action);
    h.text(e.rule);
    h.text(e.reason);
    h.text(e.detail);
    h.integer(e.duration_us);
    h.text(prev_hash);
    return h.hex();
}

} // namespace mugaika::gateway
