// Benchmark of the audit trail: durable writes and the common queries on a large store.
//
//   mugaika_bench_audit [--quick] [--pg CONNINFO] [--events N] [--dir DIR]
//
// Prints, for SQLite (WAL, synchronous=FULL: the durability the product ships with) and, with
// --pg (or MUGAIKA_BENCH_PG), for PostgreSQL (synchronous_commit=on):
//   * durable write rate: one AuditStore::record() per message (a message row and 4 event rows,
//     one transaction each, as the pipeline writes them), one writer and two concurrent writers;
//     messages/s and rows/s;
//   * query latency on a store of N events (default 1,000,000; 250,000 messages with 4 events
//     each, loaded with record_all in batches): median and max of 5 runs for the queries auditors
//     run most, and the time of a full `verify`.
// tests/bench/audit_pg_bench.py starts a private PostgreSQL server and runs this with --pg.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/audit/audit_store.hpp"

namespace fs = std::filesystem;
using namespace mugaika::gateway;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& what, const mugaika::filters::Error& e) {
    std::fprintf(stderr, "%s: %s: %s\n", what.c_str(), std::string(e.what).c_str(),
                 e.detail.c_str());
    std::exit(1);
}

std::string hex(std::mt19937_64& rng, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(n, '0');
    for (char& c : s) {
        c = digits[rng() % 16];
    }
    return s;
}

const std::vector<std::string> filenames = {
    "請求書.pdf", "見積書.xlsx", "議事録.docx",  "写真.jpg",  "申請様式.docm",
    "資料.zip",   "report.pdf",  "invoice.xlsx", "setup.exe", "名簿.csv"};
const std::vector<std::string> rules = {"inbound-body-text",        "inbound-attachment-cdr",
                                        "inbound-attachment-strip", "attach-exe-reject",
                                        "archive-encrypted-strip",  "av-infected-reject"};
const std::vector<std::string> filters = {"text.html", "text.plain", "attachment", "av",
                                          "cdr.pdf",   "cdr.ooxml",  "detect",     "rules"};

/// Message `n` of a synthetic trail: 5,000 senders in 500 domains, recipients in 20 municipal
/// domains, times spread over 90 days, four events per message.
AuditMessage synthetic(std::mt19937_64& rng, std::int64_t n, std::int64_t t0_ms) {
    AuditMessage m;
    m.audit_id = "MG-BENCH-" + std::to_string(n) + "-" + hex(rng, 8);
    m.time_unix_ms = t0_ms + n * 31'000 + static_cast<std::int64_t>(rng() % 1000);
    m.direction = rng() % 5 == 0 ? "outbound" : "inbound";
    m.client_addr = "192.0.2." + std::to_string(rng() % 250);
    m.helo = "mx" + std::to_string(rng() % 50) + ".example.net";
    m.queue_id = hex(rng, 10);
    const auto sender = rng() % 5000;
    m.mail_from =
        "user" + std::to_string(sender) + "@sender" + std::to_string(sender % 500) + ".example.com";
    m.rcpt_to = {"staff" + std::to_string(rng() % 300) + "@city" + std::to_string(rng() % 20) +
                 ".lg.jp"};
    m.message_id = "<" + hex(rng, 16) + "@sender.example.com>";
    m.subject = "【ご案内】会議資料の送付について No." + std::to_string(n);
    m.from_header = "送信者 <" + m.mail_from + ">";
    m.size_in = 20000 + rng() % 200000;
    m.size_out = m.size_in / 3;
    m.sha256_in = hex(rng, 64);
    m.sha256_out = hex(rng, 64);
    const auto v = rng() % 100;
    m.verdict = v < 85 ? "sanitized" : v < 95 ? "passed" : v < 99 ? "rejected" : "tempfail";
    m.action = m.verdict == "rejected" ? "reject" : "deliver";
    m.reason = "html.converted";
    m.ruleset_version = "0123456789ab";
    m.quarantine_id = m.sha256_in;
    m.duration_us = static_cast<std::int64_t>(rng() % 50000);
    for (int i = 0; i < 4; ++i) {
        AuditEvent e;
        e.part_path = i == 0 ? "" : "1." + std::to_string(i);
        e.filter = filters[rng() % filters.size()];
        e.action = i == 0 ? "none" : i == 1 ? "text" : "strip";
        e.rule = i == 0 ? "" : rules[rng() % rules.size()];
        e.reason = i == 0 ? "mime.parsed" : "attachment.blocked_type";
        if (i >= 2) {
            e.filename = filenames[rng() % filenames.size()];
            e.declared_type = "application/octet-stream";
            e.detected_type = "application/pdf";
            e.size = 1000 + rng() % 100000;
            e.sha256_before = hex(rng, 64);
            e.sha256_after = i == 2 ? hex(rng, 64) : "";
        }
        e.detail = "parts=3 depth=2";
        e.duration_us = static_cast<std::int64_t>(rng() % 5000);
        m.events.push_back(std::move(e));
    }
    return m;
}

using Opener = std::function<std::unique_ptr<AuditStore>()>;

void bench_writes(const std::string& label, const Opener& open, int messages) {
    auto store = open();
    std::mt19937_64 rng(7);
    const std::int64_t t0_ms = 1795222800000LL;
    std::vector<AuditMessage> ms;
    ms.reserve(static_cast<std::size_t>(messages));
    for (int i = 0; i < messages; ++i) {
        ms.push_back(synthetic(rng, i, t0_ms));
    }
    auto t = Clock::now();
    for (const auto& m : ms) {
        if (auto r = store->record(m); !r) {
            die("record", r.error());
        }
    }
    double s = seconds_since(t);
    std::printf("%-10s durable writes, 1 writer:  %6.0f messages/s  %7.0f rows/s  (%d messages, "
                "%.2f ms each)\n",
                label.c_str(), messages / s, messages * 5 / s, messages, 1000.0 * s / messages);

    // Two writers on two connections (as two processes would be), each with its own store.
    auto second = open();
    std::vector<AuditMessage> more;
    for (int i = 0; i < messages; ++i) {
        more.push_back(synthetic(rng, messages + i, t0_ms));
    }
    t = Clock::now();
    std::thread other([&] {
        for (int i = 0; i < messages; i += 2) {
            if (auto r = second->record(more[static_cast<std::size_t>(i)]); !r) {
                die("record", r.error());
            }
        }
    });
    for (int i = 1; i < messages; i += 2) {
        if (auto r = store->record(more[static_cast<std::size_t>(i)]); !r) {
            die("record", r.error());
        }
    }
    other.join();
    s = seconds_since(t);
    auto v = store->verify();
    if (!v || !v->ok) {
        std::fprintf(stderr, "verify failed after concurrent writes\n");
        std::exit(1);
    }
    std::printf("%-10s durable writes, 2 writers: %6.0f messages/s  %7.0f rows/s  (chain ok, %lld "
                "rows)\n",
                label.c_str(), messages / s, messages * 5 / s,
                static_cast<long long>(v->rows_checked));
}

void bench_queries(const std::string& label, const Opener& open, std::int64_t events) {
    auto store = open();
    const std::int64_t messages = events / 4;
    std::mt19937_64 rng(11);
    const std::int64_t t0_ms = 1795222800000LL - 90LL * 86'400'000;
    AuditMessage probe;
    auto t = Clock::now();
    constexpr std::int64_t batch = 1000;
    for (std::int64_t done = 0; done < messages; done += batch) {
        std::vector<AuditMessage> ms;
        for (std::int64_t i = done; i < std::min(messages, done + batch); ++i) {
            ms.push_back(synthetic(rng, i, t0_ms));
            if (i == messages / 2) {
                probe = ms.back();
            }
        }
        if (auto r = store->record_all(ms); !r) {
            die("record_all", r.error());
        }
    }
    std::printf("%-10s loaded %lld messages + %lld events in %.1f s (batches of %lld)\n",
                label.c_str(), static_cast<long long>(messages), static_cast<long long>(events),
                seconds_since(t), static_cast<long long>(batch));

    const std::int64_t day = 86'400'000;
    const std::int64_t mid = probe.time_unix_ms;
    const std::string domain = probe.mail_from.substr(probe.mail_from.find('@') + 1);
    struct Q {
        const char* name;
        AuditQuery q;
    };
    std::vector<Q> qs;
    auto add = [&](const char* name, auto setter) {
        AuditQuery q;
        q.limit = 100;
        setter(q);
        qs.push_back({name, q});
    };
    add("newest 100", [](AuditQuery&) {});
    add("audit id", [&](AuditQuery& q) { q.audit_id = probe.audit_id; });
    add("message-id", [&](AuditQuery& q) { q.message_id = probe.message_id; });
    add("sha256 (any part)", [&](AuditQuery& q) { q.sha256 = probe.events[2].sha256_before; });
    add("sender address", [&](AuditQuery& q) { q.sender = probe.mail_from; });
    add("sender domain", [&](AuditQuery& q) { q.sender = domain; });
    add("recipient address", [&](AuditQuery& q) { q.recipient = probe.rcpt_to[0]; });
    add("one day", [&](AuditQuery& q) {
        q.since_ms = mid;
        q.until_ms = mid + day;
    });
    add("one day + verdict", [&](AuditQuery& q) {
        q.since_ms = mid;
        q.until_ms = mid + day;
        q.verdict = "rejected";
    });
    add("rule", [&](AuditQuery& q) { q.rule = "av-infected-reject"; });
    add("filter av", [&](AuditQuery& q) { q.filter = "av"; });
    add("file name 請求書", [&](AuditQuery& q) { q.filename = "請求書"; });
    add("verdict tempfail", [&](AuditQuery& q) { q.verdict = "tempfail"; });

    for (const auto& [name, q] : qs) {
        std::vector<double> ms;
        std::size_t n = 0;
        for (int run = 0; run < 5; ++run) {
            const auto t1 = Clock::now();
            auto rows = store->query(q);
            ms.push_back(1000.0 * seconds_since(t1));
            if (!rows) {
                die(name, rows.error());
            }
            n = rows->size();
        }
        std::sort(ms.begin(), ms.end());
        std::printf("%-10s query %-20s %8.1f ms median %8.1f ms max  (%zu rows)\n", label.c_str(),
                    name, ms[2], ms.back(), n);
    }
    t = Clock::now();
    auto v = store->verify();
    if (!v || !v->ok) {
        std::fprintf(stderr, "verify failed on the loaded store\n");
        std::exit(1);
    }
    const double vs = seconds_since(t);
    std::printf("%-10s verify %lld rows: %.1f s (%.0f rows/s)\n", label.c_str(),
                static_cast<long long>(v->rows_checked), vs,
                static_cast<double>(v->rows_checked) / vs);
}

} // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string pg;
    if (const char* env = std::getenv("MUGAIKA_BENCH_PG")) {
        pg = env;
    }
    std::int64_t events = 1'000'000;
    fs::path dir = fs::temp_directory_path() / ("mugaika-audit-bench-" + std::to_string(getpid()));
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            quick = true;
        } else if (a == "--pg" && i + 1 < argc) {
            pg = argv[++i];
        } else if (a == "--events" && i + 1 < argc) {
            events = std::stoll(argv[++i]);
        } else if (a == "--dir" && i + 1 < argc) {
            dir = argv[++i];
        } else {
            std::fprintf(stderr, "usage: mugaika_bench_audit [--quick] [--pg CONNINFO] "
                                 "[--events N] [--dir DIR]\n");
            return 2;
        }
    }
    if (quick) {
        events = 8000;
    }
    const int write_messages = quick ? 50 : 1000;
    fs::create_directories(dir);
    int n = 0;
    const Opener sqlite_fresh = [&] {
        auto s = AuditStore::open_sqlite((dir / ("w" + std::to_string(n / 2) + ".db")).string());
        ++n;
        if (!s) {
            die("open_sqlite", s.error());
        }
        return std::move(*s);
    };
    bench_writes("sqlite", sqlite_fresh, write_messages);
    n = 10;
    bench_queries("sqlite", sqlite_fresh, events);
    std::error_code ec;
    std::printf("sqlite     database size: %.0f MB\n",
                static_cast<double>(fs::file_size(dir / "w5.db", ec)) / 1e6);

    if (!pg.empty()) {
        // Each phase wants an empty database: the caller passes a connection string whose
        // dbname is suffixed here ("_w" for writes, "_q" for queries); audit_pg_bench.py creates
        // both.
        const Opener pg_w = [&] {
            auto s = AuditStore::open_postgresql(pg + "_w");
            if (!s) {
                die("open_postgresql", s.error());
            }
            return std::move(*s);
        };
        const Opener pg_q = [&] {
            auto s = AuditStore::open_postgresql(pg + "_q");
            if (!s) {
                die("open_postgresql", s.error());
            }
            return std::move(*s);
        };
        bench_writes("postgresql", pg_w, write_messages);
        bench_queries("postgresql", pg_q, events);
    }
    fs::remove_all(dir, ec);
    return 0;
}
