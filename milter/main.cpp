// mugaika-milter: the Postfix milter of the sanitization gateway.
//
// A supervisor process owns the signals and runs one worker process with libmilter. libmilter's
// own signal thread treats SIGHUP as "stop", so the supervisor turns SIGHUP into a validated
// reload (SIGUSR1 to the worker) and SIGTERM into a graceful stop; it restarts a worker that
// dies (the MTA tempfails meanwhile: milter_default_action = tempfail).
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/log/log.hpp"
#include "gateway/pipeline/gateway.hpp"
#include "gateway/pipeline/libraries.hpp"
#include "milter/session.hpp"

namespace {

using namespace mugaika;

constexpr const char* help =
    R"(usage: mugaika-milter [--config FILE] [--foreground] [--pidfile FILE] [--check]

The Postfix milter of the mugaika sanitization gateway. It listens where [milter] listen says,
sanitizes every message through the same pipeline as `mugaika sanitize`, and answers Postfix:
replace the message, or reject (550 5.7.1) or tempfail (451 4.7.1) it.

options:
  --config FILE    config file (default /etc/mugaika/mugaika.toml)
  --foreground     stay in the foreground and log to stderr (default: daemon, syslog)
  --pidfile FILE   write the supervisor's process id here
  --check          validate the config file and exit (0 valid, 2 not)
  --help, --version

signals (to the supervisor): SIGHUP reloads the config (a config that fails validation is refused
and the running one kept); SIGTERM stops accepting, finishes messages in flight, and exits.
)";

struct Options {
    std::string config = "/etc/mugaika/mugaika.toml";
    bool foreground = false;
    bool check = false;
    std::string pidfile;
};

std::optional<std::shared_ptr<const gateway::Config>> load(const std::string& path) {
    auto cfg = gateway::load_config_file(path);
    if (!cfg) {
        for (const auto& p : cfg.error()) {
            log::error("-: config: problem: {}", gateway::to_string(p));
        }
        log::error("-: config: refused: file={} problems={}", path, cfg.error().size());
        return std::nullopt;
    }
    return *cfg;
}

// ---- worker --------------------------------------------------------------------------------

/// Sets TCP_NODELAY on our listening TCP socket: Linux copies it to every accepted connection,
/// so the milter's small replies are never held back by Nagle's algorithm.
void set_nodelay_on_listener() {
    for (int fd = 0; fd < 1024; ++fd) {
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
            continue;
        }
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

bool prepare_socket(const gateway::Config& cfg) {
    const std::string& listen = cfg.milter_listen;
    if (listen.rfind("unix:", 0) == 0 || listen.rfind("local:", 0) == 0) {
        const std::string path = listen.substr(listen.find(':') + 1);
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
        return true;
    }
    return true;
}

bool fix_socket_owner(const gateway::Config& cfg, uid_t uid) {
    const std::string& listen = cfg.milter_listen;
    if (listen.rfind("unix:", 0) != 0 && listen.rfind("local:", 0) != 0) {
        set_nodelay_on_listener();
        return true;
    }
    const std::string path = listen.substr(listen.find(':') + 1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!cfg.milter_socket_group.empty()) {
        const group* g = getgrnam(cfg.milter_socket_group.c_str());
        if (g == nullptr) {
            log::line(log::Level::Critical, "-: milter: no such group: {}",
                      cfg.milter_socket_group);
            return false;
        }
        gid = g->gr_gid;
    }
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
        chown(path.c_str(), uid, gid) != 0) {
        log::line(log::Level::Critical, "-: milter: chown failed: path={} error=\"{}\"", path,
                  std::strerror(errno));
        return false;
    }
    if (chmod(path.c_str(), cfg.milter_socket_mode) != 0) {
        log::line(log::Level::Critical, "-: milter: chmod failed: path={} error=\"{}\"", path,
                  std::strerror(errno));
        return false;
    }
    return true;
}

int run_worker(const Options& opt, std::shared_ptr<const gateway::Config> cfg) {
    // Every thread this worker starts (the gateway's antivirus watcher, the reload thread,
    // libmilter's) inherits this mask: SIGUSR1/2 reach only the reload thread's sigwait, and
    // SIGTERM/SIGHUP/SIGINT only libmilter's signal thread. A thread that left one unblocked
    // would take its default action and end the process.
    sigset_t reload_set;
    sigemptyset(&reload_set);
    sigaddset(&reload_set, SIGUSR1);
    sigaddset(&reload_set, SIGUSR2);
    sigset_t blocked = reload_set;
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGINT);
    pthread_sigmask(SIG_SETMASK, &blocked, nullptr);

    gateway::init_libraries();
    // libmilter runs one thread per MTA connection; glibc would give each its own malloc arena
    // and keep their peaks. A few shared arenas keep the worker's memory flat under load.
    mallopt(M_ARENA_MAX, 4);
    const passwd* pw = nullptr;
    if (!cfg->milter_user.empty() && getuid() != 0) {
        log::warning("-: milter: not started as root: user={} ignored", cfg->milter_user);
    } else if (!cfg->milter_user.empty()) {
        pw = getpwnam(cfg->milter_user.c_str());
        if (pw == nullptr) {
            log::line(log::Level::Critical, "-: milter: no such user: {}", cfg->milter_user);
            return 1;
        }
    }
    // The state dir and the spool belong to the user the worker runs as.
    std::error_code ec;
    std::filesystem::create_directories(cfg->state_dir + "/spool", ec);
    if (pw != nullptr && getuid() == 0) {
        for (const auto& p : {cfg->state_dir, cfg->state_dir + "/spool"}) {
            if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                log::warning("-: milter: chown failed: path={}", p);
            }
        }
    }

    smfiDesc desc = milter::milter_description();
    if (smfi_register(desc) != MI_SUCCESS) {
        log::line(log::Level::Critical, "-: milter: smfi_register failed");
        return 1;
    }
    std::string conn = cfg->milter_listen;
    if (conn.rfind("inet:", 0) == 0 && conn.find('@') == std::string::npos) {
        conn += "@127.0.0.1";
    }
    prepare_socket(*cfg);
    smfi_setconn(conn.data());
    smfi_settimeout(static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(cfg->milter_timeout).count()));
    smfi_setbacklog(128);
    if (smfi_opensocket(true) != MI_SUCCESS) {
        log::line(log::Level::Critical, "-: milter: cannot listen: listen={}", cfg->milter_listen);
        return 1;
    }
    if (!fix_socket_owner(*cfg, pw != nullptr ? pw->pw_uid : static_cast<uid_t>(-1))) {
        return 1;
    }
    if (pw != nullptr && getuid() == 0) {
        if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
            setuid(pw->pw_uid) != 0) {
            log::line(log::Level::Critical, "-: milter: cannot drop privileges to {}",
                      cfg->milter_user);
            return 1;
        }
    }

    // The gateway opens the audit store and quarantine as the final user.
    auto gw = gateway::Gateway::open(cfg);
    if (!gw) {
        log::line(log::Level::Critical, "-: milter: cannot start: {} {}", gw.error().what,
                  gw.error().detail);
        return 1;
    }
    // Policy changes are audited: the config this worker runs with, and every reload.
    if (auto rec = gateway::record_config_load((*gw)->audit(), *cfg, "milter.start", ""); !rec) {
        log::line(log::Level::Critical, "-: milter: cannot audit the config load: {} {}",
                  rec.error().what, rec.error().detail);
        return 1;
    }
    milter::Service service;
    service.gateway = gw->get();
    milter::install_service(&service);

    // SIGUSR1 (from the supervisor) reloads; SIGUSR2 ends the reload thread (blocked above).
    std::thread reloader([&] {
        for (;;) {
            int sig = 0;
            if (sigwait(&reload_set, &sig) != 0 || sig == SIGUSR2) {
                return;
            }
            if (auto fresh = load(opt.config)) {
                if ((*fresh)->milter_listen != cfg->milter_listen) {
                    log::warning("-: config: listen changes only on restart: listen={}",
                                 (*fresh)->milter_listen);
                }
                auto copy = std::make_shared<gateway::Config>(**fresh);
                copy->state_dir = cfg->state_dir; // the open stores stay where they are
                // A policy change that cannot be audited is not applied.
                if (auto rec = gateway::record_config_load(service.gateway->audit(), *copy,
                                                           "milter.reload", "SIGHUP");
                    !rec) {
                    log::error("-: config: reload refused: cannot audit it: {} {}",
                               rec.error().what, rec.error().detail);
                    continue;
                }
                if (auto swapped = service.gateway->replace_config(copy); !swapped) {
                    log::error("-: config: antivirus engine not rebuilt: {} {} (the running "
                               "engine stays)",
                               swapped.error().what, swapped.error().detail);
                }
                log::info("-: config: reloaded: file={} rules={} sha256={}", opt.config,
                          copy->ruleset_version, copy->sha256.substr(0, 12));
            }
        }
    });

    log::info("-: milter: started: listen={} pid={} rules={}", cfg->milter_listen, getpid(),
              cfg->ruleset_version);
    const int rc = smfi_main();

    // Stopped (SIGTERM): the listener is closed; new messages on open connections are
    // tempfailed; messages in flight finish, up to shutdown_grace.
    service.stopping.store(true);
    const auto deadline = std::chrono::steady_clock::now() + cfg->shutdown_grace;
    while (service.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int left = service.in_flight.load();
    log::info("-: milter: stopped: in_flight_left={}", left);
    pthread_kill(reloader.native_handle(), SIGUSR2);
    reloader.join();
    // Idle MTA connections may still have threads inside libmilter: leave without running
    // destructors under them. Every message's record is already committed.
    std::fflush(nullptr);
    _exit(rc == MI_SUCCESS && left == 0 ? 0 : 1);
}

// ---- supervisor ----------------------------------------------------------------------------

pid_t spawn_worker(const Options& opt, const std::shared_ptr<const gateway::Config>& cfg) {
    const pid_t pid = fork();
    if (pid == 0) {
        _exit(run_worker(opt, cfg));
    }
    return pid;
}

int supervise(const Options& opt, std::shared_ptr<const gateway::Config> cfg) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGCHLD}) {
        sigaddset(&set, s);
    }
    sigprocmask(SIG_BLOCK, &set, nullptr);

    pid_t worker = spawn_worker(opt, cfg);
    if (worker < 0) {
        log::line(log::Level::Critical, "-: milter: fork failed: {}", std::strerror(errno));
        return 1;
    }
    bool stopping = false;
    std::vector<std::chrono::steady_clock::time_point> restarts;
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            if (auto fresh = load(opt.config)) {
                cfg = *fresh;
                if (worker > 0) {
                    kill(worker, SIGUSR1);
                }
            } else {
                log::error("-: config: reload refused: the running configuration stays");
            }
        } else if (sig == SIGTERM || sig == SIGINT) {
            stopping = true;
            log::info("-: milter: stopping: signal={}", sig);
            if (worker > 0) {
                kill(worker, SIGTERM);
            } else {
                return 0;
            }
        } else if (sig == SIGCHLD) {
            int status = 0;
            pid_t done = 0;
            while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
                if (done != worker) {
                    continue;
                }
                worker = -1;
                if (stopping) {
                    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
                }
                log::error("-: milter: worker_died: status={} action=restart", status);
                const auto now = std::chrono::steady_clock::now();
                restarts.push_back(now);
                std::erase_if(restarts, [&](auto t) { return now - t > std::chrono::seconds(60); });
                if (restarts.size() > 10) {
                    log::line(log::Level::Critical,
                              "-: milter: worker keeps dying: {} restarts in 60s, giving up",
                              restarts.size());
                    return 1;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                worker = spawn_worker(opt, cfg);
            }
        }
    }
}

void daemonize() {
    if (fork() > 0) {
        _exit(0);
    }
    setsid();
    if (fork() > 0) {
        _exit(0);
    }
    if (chdir("/") != 0) {
        // keep going: nothing relies on the working directory
    }
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) {
            close(null);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "mugaika-milter: " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--config") {
            opt.config = value();
        } else if (a == "--foreground" || a == "-f") {
            opt.foreground = true;
        } else if (a == "--pidfile") {
            opt.pidfile = value();
        } else if (a == "--check") {
            opt.check = true;
        } else if (a == "--help" || a == "-h") {
            std::cout << help;
            return 0;
        } else if (a == "--version") {
            std::cout << "mugaika-milter " MUGAIKA_VERSION "\n";
            return 0;
        } else {
            std::cerr << "mugaika-milter: unknown option " << a << " (see --help)\n";
            return 2;
        }
    }
    log::configure(opt.foreground || opt.check ? log::Sink::Stderr : log::Sink::Syslog,
                   log::Level::Info);
    auto cfg = load(opt.config);
    if (!cfg) {
        return 2;
    }
    if (opt.check) {
        std::cout << opt.config << ": ok (" << (*cfg)->rules.size() << " rules, rule set "
                  << (*cfg)->ruleset_version << ")\n";
        return 0;
    }
    if (!opt.foreground) {
        daemonize();
    }
    if (!opt.pidfile.empty()) {
        std::ofstream(opt.pidfile, std::ios::trunc) << getpid() << "\n";
    }
    const int rc = supervise(opt, *cfg);
    if (!opt.pidfile.empty()) {
        std::remove(opt.pidfile.c_str());
    }
    return rc;
}
