#include "gateway/console/console_server.hpp"

#include <algorithm>
#include <chrono>
#include <istream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include "gateway/audit/audit_store.hpp"
#include "gateway/audit/audit_views.hpp"
#include "gateway/console/authenticator.hpp"
#include "gateway/console/console_pages.hpp"
#include "gateway/console/request_params.hpp"
#include "gateway/log/log.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/quarantine/release.hpp"
#include "gateway/quarantine/smtp_sender.hpp"
#include "gateway/util/encoding.hpp"

namespace mugaika::gateway::console {

namespace {

using filters::ErrorCode;

/// Largest request body read (login and decision forms are tiny).
constexpr std::size_t max_body = 64 * 1024;
constexpr std::string_view session_cookie = "mugaika_session";
constexpr std::string_view lang_cookie = "mugaika_lang";
constexpr std::string_view login_cookie = "mugaika_login";
constexpr std::string_view csp_default =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The monthly report is one self-contained file with inline CSS and SVG: styles inline, still
/// no script and nothing from elsewhere.
constexpr std::string_view csp_report =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";

std::string strip_newline(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
        s.pop_back();
    }
    return s;
}

/// What the router returns.
struct Response {
    int status = 200;
    std::string content_type = "text/html; charset=utf-8";
    std::string body;
    std::vector<std::string> cookies;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view csp = csp_default;
};

/// One access to audit (after the response is known, before it is sent).
struct Access {
    std::string verdict = "accessed";
    std::string reason;
    std::string user;
    std::string role;
    std::string extra; ///< more key=value pairs
};

/// The parts of a request the router looks at.
struct Request {
    std::string method;
    std::string path;   ///< decoded
    std::string target; ///< path and query as sent (for the language switch)
    Params params;      ///< decoded query (GET) or form body (POST forms)
    std::string body;
    std::string client;
    std::string content_type;
    std::string origin;
    std::string fetch_site; ///< Sec-Fetch-Site
    std::string host;
    std::string csrf_header;
    Poco::Net::NameValueCollection cookies;
    std::string lang;
    bool lang_chosen = false; ///< ?lang= given: set the cookie
};

std::string cookie_of(const Request& rq, std::string_view name) {
    return rq.cookies.get(std::string(name), "");
}

std::string param_of(const Params& params, std::string_view name) {
    for (const auto& [k, v] : params) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

Params without(const Params& params, std::string_view name) {
    Params out;
    for (const auto& p : params) {
        if (p.first != name) {
            out.push_back(p);
        }
    }
    return out;
}

Response make_response(int status, std::string content_type, std::string body) {
    Response r;
    r.status = status;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    return r;
}

Response json_error(int status, std::string_view code, std::string_view message) {
    Response r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body =
        "{\"error\":{\"code\":" + json_quote(code) + ",\"message\":" + json_quote(message) + "}}\n";
    return r;
}

Response json_ok(std::string body) {
    Response r;
    r.content_type = "application/json; charset=utf-8";
    r.body = std::move(body) + "\n";
    return r;
}

Response redirect(std::string_view to) {
    Response r;
    r.status = 303;
    r.headers.emplace_back("Location", std::string(to));
    r.body = "";
    return r;
}

std::int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

struct ConsoleServer::Impl {
    std::shared_ptr<const Config> config;
    Gateway& gateway;
    ServerOptions options;
    Authenticator auth;
    bool tls = false;
    std::string url;
    std::unique_ptr<Poco::Net::HTTPServer> server;

    Impl(std::shared_ptr<const Config> c, Gateway& g, ServerOptions o)
        : config(std::move(c)), gateway(g), options(std::move(o)),
          auth(AuthOptions{config->console_users(), config->console_lockout_failures,
                           config->console_lockout, config->console_session_idle,
                           config->console_session_max, 10000, options.now_ms}) {}

    void handle(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) noexcept;
    Response dispatch(Request& rq, std::optional<Access>& access);
    Response api(Request& rq, const Session& s, std::optional<Access>& access);
    Response html(Request& rq, const Session& s, std::optional<Access>& access);
    Response login(Request& rq, bool api, std::optional<Access>& access);
    std::string cookie(std::string_view name, std::string_view value, bool clear = false) const;
    bool same_origin(const Request& rq) const;
    bool record(const Access& a, const Request& rq, int status);
    PageContext page_context(const Request& rq, const Session* s) const;
    Response search(Request& rq, bool api, const PageContext& ctx);
    Response releases(Request& rq, bool api, const Session& s, const PageContext& ctx,
                      const std::string& id, const std::string& verb, std::string& reason);
};

std::string ConsoleServer::Impl::cookie(std::string_view name, std::string_view value,
                                        bool clear) const {
    std::string c =
        std::string(name) + "=" + std::string(value) + "; HttpOnly; SameSite=Strict; Path=/";
    if (tls) {
        c += "; Secure";
    }
    if (clear) {
        c += "; Max-Age=0";
    }
    return c;
}

bool ConsoleServer::Impl::same_origin(const Request& rq) const {
    // Browsers say where a POST comes from: Sec-Fetch-Site (always, in current browsers) and
    // Origin ("null" under our Referrer-Policy: no-referrer, so it proves nothing then).
    // Programs send neither, and still need the CSRF token of a session.
    if (!rq.fetch_site.empty() && rq.fetch_site != "same-origin" && rq.fetch_site != "none") {
        return false;
    }
    const std::string expected = (tls ? "https://" : "http://") + rq.host;
    return rq.origin.empty() || rq.origin == "null" || rq.origin == expected;
}

PageContext ConsoleServer::Impl::page_context(const Request& rq, const Session* s) const {
    PageContext ctx;
    ctx.lang = rq.lang;
    ctx.path = rq.target;
    if (s != nullptr) {
        ctx.user = s->user;
        ctx.role = s->role;
        ctx.csrf = s->csrf;
    }
    return ctx;
}

bool ConsoleServer::Impl::record(const Access& a, const Request& rq, int status) {
    const std::int64_t now = options.now_ms ? options.now_ms() : system_now_ms();
    AuditMessage m;
    m.audit_id = "AC" + make_audit_id(now).substr(2);
    m.time_unix_ms = now;
    m.client_addr = rq.client;
    m.verdict = a.verdict;
    m.action = "none";
    m.reason = a.reason;
    m.ruleset_version = config->ruleset_version;
    AuditEvent ev;
    ev.filter = "console";
    ev.action = "none";
    ev.reason = a.reason;
    std::string detail = detail_pair("user", one_line(a.user));
    if (!a.role.empty()) {
        detail += " " + detail_pair("role", a.role);
    }
    detail += " " + detail_pair("method", rq.method) + " " + detail_pair("path", one_line(rq.path));
    // Form bodies carry passwords and tokens: only GET parameters are recorded.
    const std::string p = rq.method == "GET" ? params_for_audit(without(rq.params, "lang")) : "";
    detail += " " + detail_pair("params", p) + " " + detail_pair("status", std::to_string(status));
    if (!a.extra.empty()) {
        detail += " " + a.extra;
    }
    ev.detail = std::move(detail);
    m.events.push_back(std::move(ev));
    auto r = gateway.audit().record(m);
    if (!r) {
        log::error("console: audit failed: {}: {}", r.error().what, r.error().detail);
        return false;
    }
    return true;
}

void ConsoleServer::Impl::handle(Poco::Net::HTTPServerRequest& req,
                                 Poco::Net::HTTPServerResponse& resp) noexcept {
    Response out;
    try {
        Request rq;
        rq.method = req.getMethod();
        rq.target = req.getURI();
        rq.client = req.clientAddress().host().toString();
        rq.content_type = req.getContentType();
        rq.origin = req.get("Origin", "");
        rq.fetch_site = req.get("Sec-Fetch-Site", "");
        rq.host = req.getHost();
        rq.csrf_header = req.get("X-CSRF-Token", "");
        req.getCookies(rq.cookies);
        std::optional<Access> access;
        bool bad = false;
        if (req.hasContentLength() &&
            req.getContentLength64() > static_cast<std::int64_t>(max_body)) {
            out = json_error(413, "console.too_large", "request body larger than 64 KiB");
            bad = true;
        } else if (rq.method == "POST") {
            std::istream& in = req.stream();
            std::string body(max_body + 1, '\0');
            in.read(body.data(), static_cast<std::streamsize>(body.size()));
            body.resize(static_cast<std::size_t>(in.gcount()));
            if (body.size() > max_body) {
                out = json_error(413, "console.too_large", "request body larger than 64 KiB");
                bad = true;
            }
            rq.body = std::move(body);
        }
        if (!bad) {
            Poco::URI uri(rq.target);
            rq.path = uri.getPath();
            for (const auto& [k, v] : uri.getQueryParameters()) {
                rq.params.emplace_back(k, v);
            }
            if (rq.method == "POST" &&
                rq.content_type.rfind("application/x-www-form-urlencoded", 0) == 0) {
                // Forms carry their fields in the body; the query of a form action is empty.
                Poco::Net::HTMLForm form;
                std::istringstream body(rq.body);
                form.load(req, body);
                rq.params.clear();
                for (const auto& [k, v] : form) {
                    rq.params.emplace_back(k, v);
                }
            }
            out = dispatch(rq, access);
            if (access && !record(*access, rq, out.status)) {
                out = rq.path.rfind("/api/", 0) == 0
                          ? json_error(503, "console.audit_failed",
                                       "the access could not be audited; nothing is shown")
                          : make_response(503, "text/plain; charset=utf-8",
                                          "the access could not be audited; nothing is shown\n");
            }
            if (rq.lang_chosen) {
                out.cookies.push_back(cookie(lang_cookie, rq.lang));
            }
        }
    } catch (const Poco::Exception& e) {
        log::warning("console: bad request: {}", e.displayText());
        out = json_error(400, "console.bad_request", "the request could not be read");
    } catch (const std::exception& e) {
        log::error("console: internal error: {}", e.what());
        out = json_error(500, "console.internal", "internal error");
    }
    try {
        resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
        resp.setContentType(out.content_type);
        resp.set("Content-Security-Policy", std::string(out.csp));
        resp.set("X-Frame-Options", "DENY");
        resp.set("X-Content-Type-Options", "nosniff");
        resp.set("Referrer-Policy", "no-referrer");
        resp.set("Cache-Control", "no-store");
        if (tls) {
            resp.set("Strict-Transport-Security", "max-age=31536000");
        }
        for (const auto& [k, v] : out.headers) {
            resp.set(k, v);
        }
        for (const auto& c : out.cookies) {
            resp.add("Set-Cookie", c);
        }
        resp.setContentLength64(static_cast<Poco::Int64>(out.body.size()));
        std::ostream& os = resp.send();
        os.write(out.body.data(), static_cast<std::streamsize>(out.body.size()));
    } catch (const std::exception& e) {
        log::warning("console: response not sent: {}", e.what());
    }
}

Response ConsoleServer::Impl::dispatch(Request& rq, std::optional<Access>& access) {
    // Language: ?lang= (remembered in a cookie), else the cookie, else [console] lang.
    const std::string asked = param_of(rq.params, "lang");
    const std::string remembered = cookie_of(rq, lang_cookie);
    if (asked == "ja" || asked == "en") {
        rq.lang = asked;
        rq.lang_chosen = true;
    } else {
        rq.lang = remembered == "ja" || remembered == "en" ? remembered : config->console_lang;
    }
    const bool is_api = rq.path.rfind("/api/", 0) == 0;
    if (rq.path == "/static/console.css") {
        if (rq.method != "GET" && rq.method != "HEAD") {
            return json_error(405, "console.method_not_allowed", "use GET");
        }
        Response r;
        r.content_type = "text/css; charset=utf-8";
        r.body = std::string(console_css());
        return r;
    }
    if (rq.method == "POST" && !same_origin(rq)) {
        return is_api ? json_error(403, "console.csrf", "cross-origin request refused")
                      : make_response(403, "text/plain; charset=utf-8",
                                      "cross-origin request refused\n");
    }
    if (rq.path == "/api/v1/login" || rq.path == "/login") {
        if (rq.path == "/login" && rq.method == "GET") {
            if (auth.session(cookie_of(rq, session_cookie))) {
                return redirect("/");
            }
            // One token per browser: a second GET (another tab, the favicon's redirect) must not
            // invalidate the form already shown.
            Response r;
            std::string token = cookie_of(rq, login_cookie);
            if (token.size() != 64) {
                token = random_token();
            }
            r.cookies.push_back(cookie(login_cookie, token));
            r.body = login_page(page_context(rq, nullptr), "", token);
            return r;
        }
        if (rq.method != "POST") {
            Response r = json_error(405, "console.method_not_allowed", "use POST");
            r.headers.emplace_back("Allow", rq.path == "/login" ? "GET, POST" : "POST");
            return r;
        }
        return login(rq, is_api, access);
    }
    auto session = auth.session(cookie_of(rq, session_cookie));
    if (!session) {
        if (is_api) {
            return json_error(401, "console.unauthenticated", "log in first (POST /api/v1/login)");
        }
        Response r = redirect("/login");
        if (!cookie_of(rq, session_cookie).empty()) {
            r.cookies.push_back(cookie(session_cookie, "", true));
        }
        return r;
    }
    if (rq.method == "POST") {
        const std::string token = is_api ? rq.csrf_header : param_of(rq.params, "csrf");
        if (!Authenticator::csrf_ok(*session, token)) {
            access = Access{"accessed", "console.csrf_refused", session->user,
                            std::string(to_string(session->role)), ""};
            return is_api ? json_error(403, "console.csrf",
                                       "missing or wrong CSRF token (X-CSRF-Token header)")
                          : make_response(403, "text/plain; charset=utf-8",
                                          "missing or wrong CSRF token\n");
        }
        if (!is_api) {
            rq.params = without(rq.params, "csrf");
        }
    }
    return is_api ? api(rq, *session, access) : html(rq, *session, access);
}

Response ConsoleServer::Impl::login(Request& rq, bool is_api, std::optional<Access>& access) {
    std::string user;
    std::string password;
    if (is_api) {
        if (rq.content_type.rfind("application/json", 0) != 0) {
            return json_error(415, "console.bad_request",
                              "send JSON (Content-Type: application/json)");
        }
        try {
            Poco::JSON::Parser parser;
            auto obj = parser.parse(rq.body).extract<Poco::JSON::Object::Ptr>();
            if (!obj || !obj->has("user") || !obj->has("password") ||
                !obj->get("user").isString() || !obj->get("password").isString()) {
                return json_error(400, "console.bad_parameter",
                                  "expected {\"user\": \"...\", \"password\": \"...\"}");
            }
            user = obj->getValue<std::string>("user");
            password = obj->getValue<std::string>("password");
        } catch (const std::exception&) {
            return json_error(400, "console.bad_parameter",
                              "expected {\"user\": \"...\", \"password\": \"...\"}");
        }
    } else {
        const std::string token = param_of(rq.params, "login_token");
        const std::string expected = cookie_of(rq, login_cookie);
        if (expected.size() != 64 || token != expected) {
            Response r;
            r.status = 403;
            const std::string fresh = random_token();
            r.cookies.push_back(cookie(login_cookie, fresh));
            r.body = login_page(
                page_context(rq, nullptr),
                rq.lang == "en" ? "The form expired; please log in again."
                                : "フォームの有効期限が切れました。もう一度ログインしてください。",
                fresh);
            return r;
        }
        user = param_of(rq.params, "user");
        password = param_of(rq.params, "password");
    }
    if (user.size() > 256 || password.size() > 1024) {
        return is_api
                   ? json_error(400, "console.bad_parameter", "user or password too long")
                   : make_response(400, "text/plain; charset=utf-8", "user or password too long\n");
    }
    const LoginOutcome out = auth.login(user, password, rq.client);
    Access a;
    a.reason = "console.login";
    a.user = user;
    Response r;
    const TimeZone tz = TimeZone::tokyo();
    switch (out.result) {
    case LoginResult::Ok:
        a.verdict = "logged_in";
        a.role = std::string(to_string(out.session->role));
        if (is_api) {
            r = json_ok("{\"user\":" + json_quote(out.session->user) + ",\"role\":" +
                        json_quote(a.role) + ",\"csrf\":" + json_quote(out.session->csrf) + "}");
        } else {
            r = redirect("/");
            r.cookies.push_back(cookie(login_cookie, "", true));
        }
        r.cookies.push_back(cookie(session_cookie, out.session->id));
        break;
    case LoginResult::BadCredentials:
        a.verdict = out.lock_started ? "locked_out" : "login_failed";
        if (out.lock_started) {
            a.extra = detail_pair("locked", out.locked) + " " +
                      detail_pair("until", tz.format(out.locked_until_ms));
            log::warning("console: login locked: user=\"{}\" client={} locked={}", one_line(user),
                         rq.client, out.locked);
        }
        if (is_api) {
            r = json_error(401, "console.login_failed", "wrong user name or password");
        } else {
            r.status = 401;
            const std::string fresh = random_token();
            r.cookies.push_back(cookie(login_cookie, fresh));
            r.body = login_page(page_context(rq, nullptr),
                                rq.lang == "en" ? "Wrong user name or password."
                                                : "ユーザー名またはパスワードが違います。",
                                fresh);
        }
        break;
    case LoginResult::LockedOut: {
        a.verdict = "locked_out";
        a.extra = detail_pair("locked", out.locked) + " " +
                  detail_pair("until", tz.format(out.locked_until_ms));
        const std::int64_t now = options.now_ms ? options.now_ms() : system_now_ms();
        const std::string retry =
            std::to_string(std::max<std::int64_t>(1, (out.locked_until_ms - now + 999) / 1000));
        if (is_api) {
            r = json_error(429, "console.locked_out",
                           "too many failed logins; try again after " +
                               tz.format(out.locked_until_ms));
        } else {
            r.status = 429;
            const std::string fresh = random_token();
            r.cookies.push_back(cookie(login_cookie, fresh));
            r.body = login_page(page_context(rq, nullptr),
                                (rq.lang == "en" ? "Too many failed logins; try again after "
                                                 : "ログインの失敗が続いたため、次の時刻まで"
                                                   "ログインできません: ") +
                                    tz.format(out.locked_until_ms),
                                fresh);
        }
        r.headers.emplace_back("Retry-After", retry);
        break;
    }
    case LoginResult::Unavailable:
        log::error("console: users file unusable: {}", out.problem);
        a.verdict = "login_failed";
        a.extra = detail_pair("problem", one_line(out.problem));
        r = is_api ? json_error(503, "console.users_unavailable",
                                "the users file cannot be used; see the server log")
                   : make_response(503, "text/plain; charset=utf-8",
                                   "the users file cannot be used; see the server log\n");
        break;
    }
    access = a;
    return r;
}

Response ConsoleServer::Impl::search(Request& rq, bool is_api, const PageContext& ctx) {
    const std::vector<std::string> extra =
        is_api ? std::vector<std::string>{} : std::vector<std::string>{"lang"};
    auto sp = parse_search(rq.params, config->console_max_results, extra);
    if (!sp.value) {
        if (is_api) {
            return json_error(400, "console.bad_parameter", sp.error);
        }
        Response r;
        r.status = 400;
        r.body =
            search_page(ctx, rq.params, nullptr, 0, 0, std::nullopt, TimeZone::tokyo(), sp.error);
        return r;
    }
    AuditQuery q = sp.value->query;
    const std::size_t limit = q.limit;
    q.limit = limit + 1; // one more tells whether there is a next page
    auto rows = gateway.audit().query(q);
    if (!rows) {
        return json_error(503, "console.query_failed", std::string(rows.error().what));
    }
    std::optional<std::size_t> next;
    if (rows->size() > limit) {
        rows->resize(limit);
        next = q.offset + limit;
    }
    if (is_api) {
        return json_ok(
            "{\"items\":" + strip_newline(render_json(*rows, sp.value->zone)) +
            ",\"limit\":" + std::to_string(limit) + ",\"offset\":" + std::to_string(q.offset) +
            ",\"next_offset\":" + (next ? std::to_string(*next) : std::string("null")) + "}");
    }
    Response r;
    r.body = search_page(ctx, rq.params, &*rows, q.offset, limit, next, sp.value->zone, "");
    return r;
}

Response ConsoleServer::Impl::releases(Request& rq, bool is_api, const Session& s,
                                       const PageContext& ctx, const std::string& id,
                                       const std::string& verb, std::string& reason) {
    auto cfg = gateway.config();
    SmtpSender sender(cfg->release_relay, cfg->release_timeout);
    ReleaseDesk desk(cfg, gateway.audit(), gateway.quarantine(), sender, {});
    const TimeZone tz = TimeZone::tokyo();
    std::string message;
    int status = 200;
    std::string json;
    if (!verb.empty()) {
        reason = verb == "approve" ? "console.release_approve" : "console.release_refuse";
        if (!allowed(s.role, Permission::DecideReleases)) {
            return is_api ? json_error(403, "console.forbidden",
                                       "only admin users approve or refuse releases")
                          : make_response(403, "text/html; charset=utf-8",
                                          error_page(ctx, 403, label(ctx.lang, "read_only")));
        }
        std::string note;
        if (is_api) {
            if (!rq.body.empty()) {
                try {
                    Poco::JSON::Parser parser;
                    auto obj = parser.parse(rq.body).extract<Poco::JSON::Object::Ptr>();
                    for (const char* key : {"note", "reason"}) {
                        if (obj && obj->has(key)) {
                            if (!obj->get(key).isString()) {
                                return json_error(400, "console.bad_parameter",
                                                  std::string(key) + ": expected a string");
                            }
                            note = obj->getValue<std::string>(key);
                        }
                    }
                } catch (const std::exception&) {
                    return json_error(400, "console.bad_parameter",
                                      "expected a JSON object such as {\"reason\": \"...\"}");
                }
            }
        } else {
            note = param_of(rq.params, "note");
        }
        if (note.size() > 2000) {
            return json_error(400, "console.bad_parameter", "note longer than 2000 bytes");
        }
        if (verb == "refuse" && one_line(note).empty()) {
            return is_api ? json_error(400, "console.bad_parameter",
                                       "a refusal needs a reason: {\"reason\": \"...\"}")
                          : make_response(400, "text/html; charset=utf-8",
                                          error_page(ctx, 400, "a refusal needs a reason"));
        }
        auto out =
            verb == "approve" ? desk.approve(id, s.user, note) : desk.refuse(id, s.user, note);
        if (!out) {
            const int st = out.error().what == "release.not_found"    ? 404
                           : out.error().code == ErrorCode::Malformed ? 400
                           : out.error().code == ErrorCode::Transient ? 503
                                                                      : 500;
            const std::string msg = std::string(out.error().what) + ": " + out.error().detail;
            return is_api ? json_error(st, out.error().what, msg)
                          : make_response(st, "text/html; charset=utf-8", error_page(ctx, st, msg));
        }
        const char* result = "failed";
        switch (out->result) {
        case ReleaseResult::Delivered:
            result = "delivered";
            break;
        case ReleaseResult::Done:
            result = "refused";
            break;
        case ReleaseResult::Refused:
            result = "denied";
            status = 409;
            break;
        case ReleaseResult::Failed:
            result = "failed";
            status = 502;
            break;
        }
        json = "{\"request\":" + json_quote(id) + ",\"result\":" + json_quote(result) +
               ",\"code\":" + json_quote(out->code) + ",\"detail\":" + json_quote(out->detail) +
               ",\"audit_id\":" + json_quote(out->audit_id) + "}";
        message = id + ": " + result + " (" + out->code + (out->detail.empty() ? "" : ": ") +
                  out->detail + ")";
        if (is_api) {
            Response r = json_ok(json);
            r.status = status;
            return r;
        }
    }
    auto list = desk.requests(false);
    if (!list) {
        return json_error(503, "console.query_failed", std::string(list.error().what));
    }
    if (is_api) {
        return json_ok("{\"items\":" + strip_newline(render_requests_json(*list)) + "}");
    }
    Response r;
    r.status = status;
    r.body = releases_page(ctx, *list, tz, message);
    return r;
}

Response ConsoleServer::Impl::api(Request& rq, const Session& s, std::optional<Access>& access) {
    Access a{"accessed", "", s.user, std::string(to_string(s.role)), ""};
    const std::string& p = rq.path;
    const PageContext ctx = page_context(rq, &s);
    auto method_is = [&](const char* m) { return rq.method == m; };
    auto wrong_method = [&](const char* allow) {
        Response r = json_error(405, "console.method_not_allowed",
                                std::string("method not allowed; use ") + allow);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    Response r;
    if (p == "/api/v1/messages") {
        a.reason = "console.search";
        r = method_is("GET") ? search(rq, true, ctx) : wrong_method("GET");
    } else if (p.rfind("/api/v1/messages/", 0) == 0 && p.size() > 17 &&
               p.find('/', 17) == std::string::npos) {
        a.reason = "console.show";
        if (!method_is("GET")) {
            r = wrong_method("GET");
        } else if (auto e = only_params(rq.params, {"zone"}); !e.empty()) {
            r = json_error(400, "console.bad_parameter", e);
        } else {
            const std::string id = p.substr(17);
            TimeZone tz = TimeZone::tokyo();
            const std::string zone = param_of(rq.params, "zone");
            auto z = zone.empty() ? filters::Result<TimeZone>(tz) : TimeZone::load(zone);
            if (!z) {
                r = json_error(400, "console.bad_parameter", "zone: unknown time zone");
            } else if (auto story = load_story(gateway.audit(), id); story) {
                r = json_ok(strip_newline(render_story_json(*story, *z)));
            } else if (story.error().what == "audit.not_found") {
                r = json_error(404, "console.not_found", "no audit record " + one_line(id));
            } else {
                r = json_error(503, "console.query_failed", std::string(story.error().what));
            }
        }
    } else if (p == "/api/v1/report") {
        a.reason = "console.report";
        if (!method_is("GET")) {
            r = wrong_method("GET");
        } else if (auto mp = parse_month(rq.params); !mp.value) {
            r = json_error(400, "console.bad_parameter", mp.error);
        } else if (auto rep = build_month_report(gateway.audit(), mp.value->year, mp.value->month,
                                                 mp.value->zone);
                   rep) {
            r = json_ok(strip_newline(render_report_json(*rep)));
        } else {
            r = json_error(503, "console.query_failed", std::string(rep.error().what));
        }
    } else if (p == "/api/v1/verify") {
        a.reason = "console.verify";
        if (!method_is("GET")) {
            r = wrong_method("GET");
        } else if (auto e = only_params(rq.params, {}); !e.empty()) {
            r = json_error(400, "console.bad_parameter", e);
        } else if (auto v = gateway.audit().verify(); v) {
            r = json_ok("{\"ok\":" + std::string(v->ok ? "true" : "false") +
                        ",\"rows_checked\":" + std::to_string(v->rows_checked) +
                        ",\"first_bad_seq\":" + std::to_string(v->first_bad_seq) + ",\"problem\":" +
                        json_quote(v->problem) + ",\"head_seq\":" + std::to_string(v->head_seq) +
                        ",\"head_hash\":" + json_quote(v->head_hash) + "}");
        } else {
            r = json_error(503, "console.query_failed", std::string(v.error().what));
        }
    } else if (p == "/api/v1/releases") {
        a.reason = "console.releases";
        std::string reason;
        if (!method_is("GET")) {
            r = wrong_method("GET");
        } else if (auto e = only_params(rq.params, {}); !e.empty()) {
            r = json_error(400, "console.bad_parameter", e);
        } else {
            r = releases(rq, true, s, ctx, "", "", reason);
        }
    } else if (p.rfind("/api/v1/releases/", 0) == 0) {
        const std::string rest = p.substr(17);
        const auto slash = rest.find('/');
        const std::string verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
        if (verb != "approve" && verb != "refuse") {
            a.reason = "console.not_found";
            r = json_error(404, "console.not_found", "no such API path");
        } else if (!method_is("POST")) {
            a.reason = "console.release_" + verb;
            r = wrong_method("POST");
        } else {
            a.reason = "console.release_" + verb;
            std::string reason;
            r = releases(rq, true, s, ctx, rest.substr(0, slash), verb, reason);
        }
    } else if (p == "/api/v1/logout") {
        a.reason = "console.logout";
        if (!method_is("POST")) {
            r = wrong_method("POST");
        } else {
            auth.logout(cookie_of(rq, session_cookie));
            r = json_ok("{\"ok\":true}");
            r.cookies.push_back(cookie(session_cookie, "", true));
        }
    } else if (p == "/api/v1/me") {
        a.reason = "console.me";
        r = method_is("GET")
                ? json_ok("{\"user\":" + json_quote(s.user) + ",\"role\":" + json_quote(a.role) +
                          ",\"csrf\":" + json_quote(s.csrf) + "}")
                : wrong_method("GET");
    } else {
        a.reason = "console.not_found";
        r = json_error(404, "console.not_found", "no such API path");
    }
    access = a;
    return r;
}

Response ConsoleServer::Impl::html(Request& rq, const Session& s, std::optional<Access>& access) {
    Access a{"accessed", "", s.user, std::string(to_string(s.role)), ""};
    const std::string& p = rq.path;
    const PageContext ctx = page_context(rq, &s);
    const Params params = without(rq.params, "lang");
    auto page_error = [&](int status, const std::string& message) {
        return make_response(status, "text/html; charset=utf-8", error_page(ctx, status, message));
    };
    auto wrong_method = [&](const char* allow) {
        Response r = page_error(405, std::string("method not allowed; use ") + allow);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    Response r;
    if (p == "/") {
        a.reason = "console.search";
        r = rq.method == "GET" ? search(rq, false, ctx) : wrong_method("GET");
    } else if (p.rfind("/mail/", 0) == 0 && p.size() > 6 && p.find('/', 6) == std::string::npos) {
        a.reason = "console.show";
        if (rq.method != "GET") {
            r = wrong_method("GET");
        } else if (auto e = only_params(params, {}); !e.empty()) {
            r = page_error(400, e);
        } else if (auto story = load_story(gateway.audit(), p.substr(6)); story) {
            r.body = story_page(ctx, *story, TimeZone::tokyo());
        } else if (story.error().what == "audit.not_found") {
            r = page_error(404, "no audit record " + one_line(p.substr(6)));
        } else {
            r = page_error(503, std::string(story.error().what));
        }
    } else if (p == "/report") {
        a.reason = "console.report";
        if (rq.method != "GET") {
            r = wrong_method("GET");
        } else if (param_of(params, "month").empty()) {
            const TimeZone tz = TimeZone::tokyo();
            const std::string now = tz.format(options.now_ms ? options.now_ms() : system_now_ms());
            r.body = report_form_page(ctx, now.substr(0, 7), "");
        } else if (auto mp = parse_month(params); !mp.value) {
            r.status = 400;
            r.body = report_form_page(ctx, param_of(params, "month"), mp.error);
        } else if (auto rep = build_month_report(gateway.audit(), mp.value->year, mp.value->month,
                                                 mp.value->zone);
                   rep) {
            r.body = render_report_html(*rep, ctx.lang);
            r.csp = csp_report;
        } else {
            r = page_error(503, std::string(rep.error().what));
        }
    } else if (p == "/verify") {
        a.reason = "console.verify";
        if (rq.method != "GET") {
            r = wrong_method("GET");
        } else if (auto v = gateway.audit().verify(); v) {
            r.body = verify_page(ctx, *v);
        } else {
            r = page_error(503, std::string(v.error().what));
        }
    } else if (p == "/releases") {
        a.reason = "console.releases";
        std::string reason;
        r = rq.method == "GET" ? releases(rq, false, s, ctx, "", "", reason) : wrong_method("GET");
    } else if (p.rfind("/releases/", 0) == 0) {
        const std::string rest = p.substr(10);
        const auto slash = rest.find('/');
        const std::string verb = slash == std::string::npos ? "" : rest.substr(slash + 1);
        if (verb != "approve" && verb != "refuse") {
            a.reason = "console.not_found";
            r = page_error(404, "not found");
        } else if (rq.method != "POST") {
            a.reason = "console.release_" + verb;
            r = wrong_method("POST");
        } else {
            std::string reason;
            a.reason = "console.release_" + verb;
            r = releases(rq, false, s, ctx, rest.substr(0, slash), verb, reason);
        }
    } else if (p == "/logout") {
        a.reason = "console.logout";
        if (rq.method != "POST") {
            r = wrong_method("POST");
        } else {
            auth.logout(cookie_of(rq, session_cookie));
            r = redirect("/login");
            r.cookies.push_back(cookie(session_cookie, "", true));
        }
    } else {
        a.reason = "console.not_found";
        r = page_error(404, "not found");
    }
    access = a;
    return r;
}

namespace {

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(ConsoleServer::Impl& impl) : impl_(impl) {}
    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
        impl_.handle(req, resp);
    }

private:
    ConsoleServer::Impl& impl_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(ConsoleServer::Impl& impl) : impl_(impl) {}
    Poco::Net::HTTPRequestHandler*
    createRequestHandler(const Poco::Net::HTTPServerRequest& /*request*/) override {
        return new Handler(impl_); // Poco owns and deletes it
    }

private:
    ConsoleServer::Impl& impl_;
};

} // namespace

filters::Result<std::unique_ptr<ConsoleServer>>
ConsoleServer::start(std::shared_ptr<const Config> config, Gateway& gateway,
                     ServerOptions options) {
    if (auto users = UsersFile::load(config->console_users()); !users) {
        return tl::unexpected(users.error());
    } else if (users->users().empty()) {
        return filters::fail(ErrorCode::Malformed, "console.users_missing",
                             config->console_users() +
                                 ": no users (add one with `mugaika console user add`)");
    }
    auto impl = std::make_unique<Impl>(config, gateway, std::move(options));
    impl->tls = !config->console_tls_cert.empty();
    Poco::Net::ServerSocket socket;
    try {
        const Poco::Net::SocketAddress addr(config->console_listen);
        if (impl->tls) {
            Poco::Net::Context::Params p;
            p.privateKeyFile = config->console_tls_key;
            p.certificateFile = config->console_tls_cert;
            p.verificationMode = Poco::Net::Context::VERIFY_NONE;
            p.loadDefaultCAs = false;
            p.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES";
            Poco::Net::Context::Ptr ctx;
            try {
                ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
                ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
                ctx->preferServerCiphers();
            } catch (const Poco::Exception& e) {
                return filters::fail(ErrorCode::Malformed, "console.tls_failed",
                                     config->console_tls_cert + ", " + config->console_tls_key +
                                         ": " + e.displayText());
            }
            socket = Poco::Net::SecureServerSocket(addr, 64, ctx);
        } else {
            socket = Poco::Net::ServerSocket(addr, 64);
        }
    } catch (const Poco::Exception& e) {
        return filters::fail(ErrorCode::Transient, "console.listen_failed",
                             config->console_listen + ": " + e.displayText());
    }
    const Poco::Net::SocketAddress bound = socket.address();
    const std::string host = bound.family() == Poco::Net::SocketAddress::IPv6
                                 ? "[" + bound.host().toString() + "]"
                                 : bound.host().toString();
    impl->url = (impl->tls ? "https://" : "http://") + host + ":" + std::to_string(bound.port());
    auto* params = new Poco::Net::HTTPServerParams; // owned by the server (AutoPtr)
    params->setMaxThreads(8);
    params->setMaxQueued(64);
    params->setTimeout(Poco::Timespan(30, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(10, 0));
    impl->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(*impl), socket, params);
    impl->server->start();
    return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() {
    stop();
}

std::string ConsoleServer::url() const {
    return impl_->url;
}

void ConsoleServer::stop() {
    if (impl_ && impl_->server) {
        impl_->server->stopAll(true);
        impl_->server.reset();
    }
}

} // namespace mugaika::gateway::console
