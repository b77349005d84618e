// libmilter callbacks: collect the envelope, header and body into a spool, call
// Gateway::process at end of message, and apply its Outcome. No sanitization logic here.
#include "milter/session.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>

#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/log/log.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/rebuild/header_edit.hpp"
#include "milter/direction.hpp"
#include "milter/spool.hpp"

namespace mugaika::milter {
namespace {

using gateway::Disposition;
using gateway::HeaderEdit;
using gateway::HeaderField;

// libmilter's C callbacks carry no user data but the per-connection private pointer; the
// service is installed once before smfi_main() and read-only afterwards.
Service* service_ = nullptr;

/// Counts a message in flight for as long as it lives.
class InFlight {
public:
    InFlight() noexcept { ++service_->in_flight; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    ~InFlight() { --service_->in_flight; }
};

/// One message: the envelope, the header fields as received and the raw bytes.
struct Message {
    InFlight counted;
    gateway::Envelope envelope;
    std::vector<HeaderField> headers;
    Spool spool;
    bool failed = false; ///< the spool could not take the bytes: tempfail at the end

    Message(std::string spool_dir, std::size_t memory) : spool(std::move(spool_dir), memory) {}
};

/// One MTA connection, owned by libmilter's private pointer between connect and close.
struct Connection {
    bool leadspc = false; ///< header values carry their leading space (SMFIP_HDR_LEADSPC)
    std::string client_addr;
    std::string helo;
    std::string daemon_name;
    std::unique_ptr<Message> message;
};

Connection* conn_of(SMFICTX* ctx) noexcept {
    return static_cast<Connection*>(smfi_getpriv(ctx));
}

std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v != nullptr ? std::string(v) : std::string();
}

std::string strip_angles(const char* s) {
    std::string v = s != nullptr ? s : "";
    if (v.size() >= 2 && v.front() == '<' && v.back() == '>') {
        v = v.substr(1, v.size() - 2);
    }
    return v;
}

std::string queue_id(SMFICTX* ctx, const Connection* c) {
    std::string q = macro(ctx, "i");
    if (q.empty() && c != nullptr && c->message) {
        q = c->message->envelope.queue_id;
    }
    return q.empty() ? "-" : q;
}

/// Runs a callback body; any exception becomes a logged temporary failure, never crossing the
/// C frames of libmilter.
template <class F> sfsistat guarded(SMFICTX* ctx, const char* where, F&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        log::error("{}: milter: callback_failed: where={} error=\"{}\"",
                   queue_id(ctx, conn_of(ctx)), where, e.what());
    } catch (...) {
        log::error("{}: milter: callback_failed: where={}", queue_id(ctx, conn_of(ctx)), where);
    }
    try {
        smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.0"),
                      const_cast<char*>("temporary failure in the sanitization milter"));
    } catch (...) {
    }
    return SMFIS_TEMPFAIL;
}

/// smfi_setreply text: printable, one line, '%' doubled.
std::string reply_text(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\r' || c == '\n') {
            c = ' ';
        }
        if (c == '%') {
            out += '%';
        }
        out += c;
    }
    return out;
}

sfsistat set_reply(SMFICTX* ctx, const char* code, const std::string& smtp_reply, sfsistat status) {
    // The gateway's reply starts with the enhanced status code ("5.7.1 text").
    std::string xcode = code[0] == '5' ? "5.7.1" : "4.7.1";
    std::string text = smtp_reply;
    const auto sp = smtp_reply.find(' ');
    if (sp != std::string::npos && sp <= 9 &&
        std::isdigit(static_cast<unsigned char>(smtp_reply[0])) != 0) {
        xcode = smtp_reply.substr(0, sp);
        text = smtp_reply.substr(sp + 1);
    }
    const std::string t = reply_text(text);
    smfi_setreply(ctx, const_cast<char*>(code), xcode.data(), const_cast<char*>(t.c_str()));
    return status;
}

bool apply_headers(SMFICTX* ctx, const std::vector<HeaderEdit>& edits, bool leadspc) {
    for (const HeaderEdit& e : edits) {
        std::string name = e.name;
        // With SMFIP_HDR_LEADSPC the value carries its own leading space; folds are LF.
        std::string value = leadspc ? " " + e.value : e.value;
        int rc = MI_FAILURE;
        switch (e.kind) {
        case HeaderEdit::Kind::Change:
            rc = smfi_chgheader(ctx, name.data(), e.index, value.data());
            break;
        case HeaderEdit::Kind::Remove:
            rc = smfi_chgheader(ctx, name.data(), e.index, nullptr);
            break;
        case HeaderEdit::Kind::Insert:
            rc = smfi_insheader(ctx, 0, name.data(), value.data());
            break;
        case HeaderEdit::Kind::Append:
            rc = smfi_addheader(ctx, name.data(), value.data());
            break;
        }
        if (rc != MI_SUCCESS) {
            return false;
        }
    }
    return true;
}

bool replace_body(SMFICTX* ctx, std::string_view body) {
    constexpr std::size_t chunk = 65535;
    if (body.empty()) {
        unsigned char nothing = 0;
        return smfi_replacebody(ctx, &nothing, 0) == MI_SUCCESS;
    }
    for (std::size_t off = 0; off < body.size(); off += chunk) {
        const std::size_t n = std::min(chunk, body.size() - off);
        auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(body.data() + off));
        if (smfi_replacebody(ctx, p, static_cast<int>(n)) != MI_SUCCESS) {
            return false;
        }
    }
    return true;
}

std::string address_text(const sockaddr* sa) {
    if (sa == nullptr) {
        return {};
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    }
    return buf;
}

// ---- callbacks -------------------------------------------------------------------------------

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long /*f2*/,
                      unsigned long /*f3*/, unsigned long* pf0, unsigned long* pf1,
                      unsigned long* pf2, unsigned long* pf3) {
    return guarded(ctx, "negotiate", [&] {
        const unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_SETSYMLIST;
        if ((f0 & want) != want) {
            log::error("-: milter: negotiate_failed: offered_actions={:#x} wanted={:#x}", f0, want);
            return static_cast<sfsistat>(SMFIS_REJECT);
        }
        *pf0 = want;
        // Header values keep their leading space, so the message is rebuilt byte for byte.
        // DATA is answered (no SMFIP_NODATA): Postfix sends its DATA macros and waits for the
        // reply, instead of writing the first header right behind an unanswered packet, which
        // over TCP waits ~40 ms for our delayed ACK (Nagle on Postfix's side).
        *pf1 = (SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN) & f1;
        auto c = std::make_unique<Connection>();
        c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
        std::unique_ptr<Connection> previous(conn_of(ctx));
        smfi_setpriv(ctx, c.release());
        *pf2 = 0;
        *pf3 = 0;
        smfi_setsymlist(ctx, SMFIM_CONNECT,
                        const_cast<char*>("{daemon_name} {client_addr} {client_name} j"));
        smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen}"));
        smfi_setsymlist(ctx, SMFIM_DATA, const_cast<char*>("i"));
        smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_connect(SMFICTX* ctx, char* /*hostname*/, _SOCK_ADDR* hostaddr) {
    return guarded(ctx, "connect", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr) {
            c = new Connection();
            smfi_setpriv(ctx, c);
        }
        c->client_addr = macro(ctx, "{client_addr}");
        if (c->client_addr.empty()) {
            c->client_addr = address_text(hostaddr);
        }
        c->daemon_name = macro(ctx, "{daemon_name}");
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_helo(SMFICTX* ctx, char* helo) {
    return guarded(ctx, "helo", [&] {
        if (Connection* c = conn_of(ctx)) {
            c->helo = helo != nullptr ? helo : "";
        }
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envfrom", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr) {
            return static_cast<sfsistat>(SMFIS_TEMPFAIL);
        }
        c->message.reset();
        if (service_->stopping.load()) {
            return set_reply(ctx, "451", "4.3.2 the sanitization milter is restarting",
                             SMFIS_TEMPFAIL);
        }
        const std::shared_ptr<const gateway::Config> cfg = service_->gateway->config();
        c->message = std::make_unique<Message>(cfg->state_dir + "/spool",
                                               static_cast<std::size_t>(cfg->spool_memory));
        gateway::Envelope& env = c->message->envelope;
        env.mail_from = strip_angles(argv != nullptr ? argv[0] : nullptr);
        env.client_addr = c->client_addr;
        env.helo = c->helo;
        env.queue_id = macro(ctx, "i");
        env.direction = choose_direction(c->daemon_name, c->client_addr, cfg->inbound_daemons,
                                         cfg->outbound_daemons, cfg->outbound_networks);
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envrcpt", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr || !c->message) {
            return static_cast<sfsistat>(SMFIS_TEMPFAIL);
        }
        c->message->envelope.rcpt_to.push_back(strip_angles(argv != nullptr ? argv[0] : nullptr));
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

void spool_append(Message& m, std::string_view data) {
    if (m.failed) {
        return;
    }
    if (auto ok = m.spool.append(data); !ok) {
        m.failed = true;
        log::error("{}: milter: spool_failed: {} {}",
                   m.envelope.queue_id.empty() ? "-" : m.envelope.queue_id, ok.error().what,
                   ok.error().detail);
    }
}

sfsistat on_data(SMFICTX* ctx) {
    return guarded(ctx, "data", [&] {
        Connection* c = conn_of(ctx);
        if (c != nullptr && c->message && c->message->envelope.queue_id.empty()) {
            c->message->envelope.queue_id = macro(ctx, "i");
        }
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    return guarded(ctx, "header", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr || !c->message) {
            return static_cast<sfsistat>(SMFIS_TEMPFAIL);
        }
        Message& m = *c->message;
        if (m.envelope.queue_id.empty()) {
            m.envelope.queue_id = macro(ctx, "i");
        }
        HeaderField f{name != nullptr ? name : "", value != nullptr ? value : ""};
        // The MTA folds with LF; the message we rebuild uses CRLF throughout.
        std::string line = f.name + (c->leadspc ? ":" : ": ");
        for (std::size_t i = 0; i < f.value.size(); ++i) {
            if (f.value[i] == '\n' && (i == 0 || f.value[i - 1] != '\r')) {
                line += '\r';
            }
            line += f.value[i];
        }
        line += "\r\n";
        spool_append(m, line);
        m.headers.push_back(std::move(f));
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_eoh(SMFICTX* ctx) {
    return guarded(ctx, "eoh", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr || !c->message) {
            return static_cast<sfsistat>(SMFIS_TEMPFAIL);
        }
        spool_append(*c->message, "\r\n");
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    return guarded(ctx, "body", [&] {
        Connection* c = conn_of(ctx);
        if (c == nullptr || !c->message) {
            return static_cast<sfsistat>(SMFIS_TEMPFAIL);
        }
        spool_append(*c->message, std::string_view(reinterpret_cast<const char*>(chunk), len));
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_eom_body(SMFICTX* ctx);

sfsistat on_eom(SMFICTX* ctx) {
    const sfsistat rc = on_eom_body(ctx);
    // When the worker falls idle, hand freed memory back to the system: the resident size then
    // shows what is alive, not the high-water mark of the last burst of large messages.
    if (service_->in_flight.load() == 0) {
        malloc_trim(0);
    }
    return rc;
}

sfsistat on_eom_body(SMFICTX* ctx) {
    return guarded(ctx, "eom", [&]() -> sfsistat {
        Connection* c = conn_of(ctx);
        if (c == nullptr || !c->message) {
            return SMFIS_TEMPFAIL;
        }
        // The message ends here whatever happens: its state goes with this scope.
        std::unique_ptr<Message> m = std::move(c->message);
        const std::string qid = macro(ctx, "i");
        if (!qid.empty()) {
            m->envelope.queue_id = qid;
        }
        if (m->failed) {
            return set_reply(ctx, "451", "4.3.0 the message could not be spooled", SMFIS_TEMPFAIL);
        }
        auto bytes = m->spool.view();
        if (!bytes) {
            log::error("{}: milter: spool_failed: {} {}", queue_id(ctx, c), bytes.error().what,
                       bytes.error().detail);
            return set_reply(ctx, "451", "4.3.0 the message could not be spooled", SMFIS_TEMPFAIL);
        }
        const gateway::Outcome o =
            service_->gateway->process(m->envelope, gateway::MessageSource{*bytes, m->spool.fd()});
        switch (o.disposition) {
        case Disposition::Reject:
            return set_reply(ctx, "550", o.smtp_reply, SMFIS_REJECT);
        case Disposition::Tempfail:
            return set_reply(ctx, "451", o.smtp_reply, SMFIS_TEMPFAIL);
        case Disposition::Quarantine:
        case Disposition::Discard:
            // Accepted and not delivered. Not Postfix's hold queue (smfi_quarantine): a held
            // message there is the unsanitized original, and `postsuper -H` would deliver it
            // outside the audit. The original waits in our quarantine for a recorded release.
            return SMFIS_DISCARD;
        case Disposition::Deliver:
            break;
        }
        const std::vector<HeaderField> wanted = gateway::split_header_block(o.output);
        const std::vector<HeaderEdit> edits = gateway::plan_header_edits(m->headers, wanted);
        const std::string_view new_body = gateway::body_of(o.output);
        const std::string_view old_body = gateway::body_of(*bytes);
        if (!apply_headers(ctx, edits, c->leadspc) ||
            (new_body != old_body && !replace_body(ctx, new_body))) {
            // Nothing of a tempfailed message is delivered: the changes made so far are void.
            log::error("{}: milter: apply_failed: audit={}", queue_id(ctx, c), o.audit_id);
            return set_reply(ctx, "451", "4.3.0 the sanitized message could not be handed back",
                             SMFIS_TEMPFAIL);
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded(ctx, "abort", [&] {
        if (Connection* c = conn_of(ctx)) {
            c->message.reset();
        }
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

sfsistat on_close(SMFICTX* ctx) {
    return guarded(ctx, "close", [&] {
        std::unique_ptr<Connection> c(conn_of(ctx));
        smfi_setpriv(ctx, nullptr);
        return static_cast<sfsistat>(SMFIS_CONTINUE);
    });
}

} // namespace

void install_service(Service* service) noexcept {
    service_ = service;
}

smfiDesc milter_description() noexcept {
    smfiDesc d{};
    d.xxfi_name = const_cast<char*>("mugaika");
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_SETSYMLIST;
    d.xxfi_connect = on_connect;
    d.xxfi_helo = on_helo;
    d.xxfi_envfrom = on_envfrom;
    d.xxfi_envrcpt = on_envrcpt;
    d.xxfi_header = on_header;
    d.xxfi_data = on_data;
    d.xxfi_eoh = on_eoh;
    d.xxfi_body = on_body;
    d.xxfi_eom = on_eom;
    d.xxfi_abort = on_abort;
    d.xxfi_close = on_close;
    d.xxfi_negotiate = on_negotiate;
    return d;
}

} // namespace mugaika::milter
