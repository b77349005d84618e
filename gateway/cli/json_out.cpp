#include "gateway/cli/json_out.hpp"

#include <cstdio>
#include <ctime>
#include <sstream>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Stringifier.h>

namespace mugaika::gateway {
namespace {

Poco::JSON::Object::Ptr part_object(const PartReport& p) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("path", p.path);
    o->set("filename", p.filename);
    o->set("declared_type", p.declared_type);
    o->set("detected_type", p.detected_type);
    if (!p.charset.empty()) {
        o->set("charset", p.charset);
    }
    o->set("size", p.size);
    o->set("sha256", p.sha256);
    o->set("role", std::string(to_string(p.role)));
    o->set("action", std::string(to_string(p.action)));
    o->set("rule", p.rule);
    o->set("av", p.av);
    if (!p.signatures.empty()) {
        o->set("signatures", p.signatures);
    }
    o->set("mismatch", p.mismatch);
    if (!p.name_tricks.empty()) {
        o->set("name_tricks", p.name_tricks);
    }
    if (p.archive != "none") {
        Poco::JSON::Object::Ptr a = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        a->set("status", p.archive);
        a->set("format", p.archive_format);
        if (!p.archive_reason.empty()) {
            a->set("reason", p.archive_reason);
        }
        a->set("members", p.archive_members);
        a->set("expanded", p.archive_expanded);
        a->set("encrypted", p.encrypted);
        a->set("contains", content_names(p.contains));
        o->set("archive", a);
    }
    if (!p.reason.empty()) {
        o->set("reason", p.reason);
    }
    if (!p.detail.empty()) {
        o->set("detail", p.detail);
    }
    return o;
}

std::string stringify(const Poco::JSON::Object::Ptr& o) {
    std::ostringstream ss;
    // Non-ASCII stays as UTF-8 (readable Japanese), escaping only what JSON requires.
    Poco::JSON::Stringifier::stringify(o, ss, 2, -1, Poco::JSON_WRAP_STRINGS);
    return ss.str();
}

std::string pad(const std::string& s, std::size_t width) {
    // Display width: East Asian wide characters count two columns.
    std::size_t w = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        w += len >= 3 ? 2 : 1;
        i += len;
    }
    return w >= width ? s + " " : s + std::string(width - w, ' ');
}

} // namespace

std::string outcome_json(const Outcome& outcome) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("verdict", std::string(to_string(outcome.disposition)));
    o->set("audit_id", outcome.audit_id);
    o->set("reason", outcome.reason);
    if (!outcome.rule.empty()) {
        o->set("rule", outcome.rule);
    }
    if (!outcome.smtp_reply.empty()) {
        o->set("smtp_reply", outcome.smtp_reply);
    }
    o->set("audited", outcome.audited);
    o->set("quarantine_id", outcome.quarantine_id);
    o->set("sha256_in", outcome.sha256_in);
    o->set("sha256_out", outcome.sha256_out);
    o->set("size_out", outcome.output.size());
    if (!outcome.output_filename.empty()) {
        o->set("output_filename", outcome.output_filename);
    }
    Poco::JSON::Array::Ptr parts = new Poco::JSON::Array;
    for (const PartReport& p : outcome.parts) {
        parts->add(part_object(p));
    }
    o->set("parts", parts);
    return stringify(o);
}

std::string parts_json(const std::vector<PartReport>& parts, const std::string& ruleset_version) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    o->set("ruleset_version", ruleset_version);
    Poco::JSON::Array::Ptr arr = new Poco::JSON::Array;
    for (const PartReport& p : parts) {
        arr->add(part_object(p));
    }
    o->set("parts", arr);
    return stringify(o);
}

std::string parts_table(const std::vector<PartReport>& parts, const std::string& ruleset_version) {
    std::string out = "rule set " + ruleset_version + "\n";
    out += pad("PART", 8) + pad("ROLE", 11) + pad("DECLARED", 26) + pad("DETECTED", 26) +
           pad("SIZE", 10) + pad("ACTION", 7) + pad("RULE", 26) + "NAME\n";
    for (const PartReport& p : parts) {
        out += pad(p.path, 8) + pad(std::string(to_string(p.role)), 11) + pad(p.declared_type, 26) +
               pad(p.detected_type, 26) + pad(std::to_string(p.size), 10) +
               pad(std::string(to_string(p.action)), 7) + pad(p.rule, 26) + p.filename + "\n";
        if (p.archive != "none") {
            out += std::string(8, ' ') + "archive " + p.archive + " (" + p.archive_format + ", " +
                   std::to_string(p.archive_members) + " members" +
                   (p.encrypted ? ", encrypted" : "") +
                   (p.archive_reason.empty() ? "" : ", " + p.archive_reason) +
                   (p.contains != 0 ? ", contains " + content_names(p.contains) : "") + ")\n";
        }
    }
    return out;
}

std::optional<std::int64_t> parse_iso8601_ms(const std::string& s) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    int consumed = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3) {
        return std::nullopt;
    }
    std::size_t pos = static_cast<std::size_t>(consumed);
    if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
        int c2 = 0;
        if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d%n", &h, &mi, &c2) != 2) {
            return std::nullopt;
        }
        pos += 1 + static_cast<std::size_t>(c2);
        if (pos < s.size() && s[pos] == ':') {
            int c3 = 0;
            if (std::sscanf(s.c_str() + pos + 1, "%2d%n", &sec, &c3) != 1) {
                return std::nullopt;
            }
            pos += 1 + static_cast<std::size_t>(c3);
        }
    }
    int offset_min = 9 * 60; // Asia/Tokyo unless a zone is given
    if (pos < s.size()) {
        if (s[pos] == 'Z' && pos + 1 == s.size()) {
            offset_min = 0;
        } else if ((s[pos] == '+' || s[pos] == '-') && s.size() - pos == 6 && s[pos + 3] == ':') {
            const int oh = std::stoi(s.substr(pos + 1, 2));
            const int om = std::stoi(s.substr(pos + 4, 2));
            offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
        } else {
            return std::nullopt;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    const std::time_t t = timegm(&tm);
    return (static_cast<std::int64_t>(t) - offset_min * 60) * 1000;
}

} // namespace mugaika::gateway
