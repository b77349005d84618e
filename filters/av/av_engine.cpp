#include "filters/av/av_engine.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wshadow"
#include <clamav.h>
#pragma GCC diagnostic pop

#include "filters/core/cptr.hpp"

namespace mugaika::filters::av {

namespace {

using EnginePtr = CPtr<cl_engine, cl_engine_free>;
using FmapPtr = CPtr<cl_fmap_t, cl_fmap_close>;

// libclamav reports its errors through a process-wide message callback, not through return
// values. While load() runs, the calling thread points this at a string to keep them.
thread_local std::string* t_load_messages = nullptr;

void on_clamav_message(enum cl_msg severity, const char* /*fullmsg*/, const char* msg,
                       void* /*context*/) noexcept {
    // Filters do not log: everything else libclamav says is dropped instead of going to stderr.
    if (t_load_messages == nullptr || severity != CL_MSG_ERROR || msg == nullptr) {
        return;
    }
    try {
        std::string_view m(msg);
        while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back())) != 0) {
            m.remove_suffix(1);
        }
        if (t_load_messages->size() < 1024) {
            if (!t_load_messages->empty()) {
                t_load_messages->append("; ");
            }
            t_load_messages->append(m);
        }
    } catch (...) { // NOLINT(bugprone-empty-catch): an exception must not cross the C frame
    }
}

// The file name endings cl_load reads from a directory (CLI_DBEXT in libclamav/readdb.h, 1.4).
constexpr auto database_extensions = std::to_array<std::string_view>(
    {".db",  ".hdb", ".hdu", ".fp",   ".mdb",  ".mdu", ".hsb",  ".hsu", ".sfp", ".msb",
     ".msu", ".ndb", ".ndu", ".ldb",  ".ldu",  ".sdb", ".zmd",  ".rmd", ".pdb", ".gdb",
     ".wdb", ".cbc", ".ftm", ".cfg",  ".cvd",  ".cld", ".cud",  ".cdb", ".cat", ".crb",
     ".idb", ".ioc", ".yar", ".yara", ".pwdb", ".ign", ".ign2", ".imp"});

bool is_database_file(std::string_view name) noexcept {
    return std::any_of(
        database_extensions.begin(), database_extensions.end(), [name](std::string_view ext) {
            if (name.size() <= ext.size()) {
                return false;
            }
            const auto tail = name.substr(name.size() - ext.size());
            return std::equal(tail.begin(), tail.end(), ext.begin(), ext.end(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == static_cast<unsigned char>(b);
            });
        });
}

struct DatabaseFile {
    std::string name;
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
};

// Signature files directly in `dir`, sorted by name. Unreadable entries are skipped.
std::vector<DatabaseFile> list_database_files(const std::filesystem::path& dir) {
    std::vector<DatabaseFile> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) {
        return out;
    }
    for (const auto& entry : it) {
        std::error_code fec;
        if (!entry.is_regular_file(fec) || fec) {
            continue;
        }
        auto name = entry.path().filename().string();
        if (!is_database_file(name)) {
            continue;
        }
        const auto size = entry.file_size(fec);
        if (fec) {
            continue;
        }
        const auto mtime = entry.last_write_time(fec);
        if (fec) {
            continue;
        }
        const auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
        out.push_back(DatabaseFile{std::move(name), size, static_cast<std::int64_t>(ns)});
    }
    std::sort(out.begin(), out.end(),
              [](const DatabaseFile& a, const DatabaseFile& b) { return a.name < b.name; });
    return out;
}

long long clamp_ll(std::uint64_t v) noexcept {
    return v > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())
               ? std::numeric_limits<long long>::max()
               : static_cast<long long>(v);
}

long long clamp_u32(std::uint64_t v) noexcept {
    return static_cast<long long>(
        std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

Result<void> apply_limits(cl_engine* engine, const ScanLimits& limits) {
    const auto ms = limits.max_scan_time.count();
    // libclamav reads 0 as "no limit": a scan that could never be Incomplete, i.e. fail-open.
    if (limits.max_scan_size == 0 || limits.max_file_size == 0 || limits.max_recursion == 0 ||
        limits.max_files == 0 || ms <= 0) {
        return fail(ErrorCode::Unsupported, "av.limits_invalid", "a scan limit is zero");
    }
    const std::array<std::pair<cl_engine_field, long long>, 5> settings = {{
        {CL_ENGINE_MAX_SCANSIZE, clamp_ll(limits.max_scan_size)},
        {CL_ENGINE_MAX_FILESIZE, clamp_ll(limits.max_file_size)},
        {CL_ENGINE_MAX_RECURSION, clamp_u32(limits.max_recursion)},
        {CL_ENGINE_MAX_FILES, clamp_u32(limits.max_files)},
        {CL_ENGINE_MAX_SCANTIME, clamp_u32(static_cast<std::uint64_t>(ms))},
    }};
    for (const auto& [field, value] : settings) {
        if (const cl_error_t rc = cl_engine_set_num(engine, field, value); rc != CL_SUCCESS) {
            return fail(ErrorCode::Internal, "av.limits_invalid", cl_strerror(rc));
        }
    }
    return {};
}

// Per-scan state handed to libclamav as the callback context; lives on the scanning stack.
struct ScanContext {
    std::vector<std::string> names;
    bool out_of_memory = false;
};

void on_virus_found(int /*fd*/, const char* virname, void* context) noexcept {
    auto* ctx = static_cast<ScanContext*>(context);
    if (ctx == nullptr || virname == nullptr) {
        return;
    }
    try {
        // A stored member's bytes match once in the archive and once extracted: keep one.
        const std::string_view name(virname);
        if (std::find(ctx->names.begin(), ctx->names.end(), name) == ctx->names.end()) {
            ctx->names.emplace_back(name);
        }
    } catch (...) { // an exception must not cross the C frame
        ctx->out_of_memory = true;
    }
}

// The options of every scan. Parsing: everything libclamav can unpack. Heuristics: only those
// that say "this could not be inspected" (limits, encryption, broken executables), which the
// gateway turns into the Incomplete action. Left off on purpose, because they fire on innocent
// mail: STRUCTURED* (DLP: SSN and credit-card patterns in ordinary text), MACROS (every
// legitimate macro document; macros are the CDR step's business), PHISHING_SSL_MISMATCH and
// PHISHING_CLOAK (newsletter links), BROKEN_MEDIA (slightly malformed but harmless images are
// common in mail), PARTITION_INTXN (disk images only). HEURISTIC_PRECEDENCE makes heuristic
// alerts reach the virus-found callback; with ALLMATCHES they never stop the scan early.
cl_scan_options make_scan_options() noexcept {
    cl_scan_options o{};
    o.general = CL_SCAN_GENERAL_ALLMATCHES | CL_SCAN_GENERAL_HEURISTICS |
                CL_SCAN_GENERAL_HEURISTIC_PRECEDENCE;
    o.parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PDF | CL_SCAN_PARSE_SWF |
              CL_SCAN_PARSE_HWP3 | CL_SCAN_PARSE_XMLDOCS | CL_SCAN_PARSE_MAIL | CL_SCAN_PARSE_OLE2 |
              CL_SCAN_PARSE_HTML | CL_SCAN_PARSE_PE | CL_SCAN_PARSE_ONENOTE | CL_SCAN_PARSE_IMAGE |
              CL_SCAN_PARSE_IMAGE_FUZZY_HASH;
    o.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX | CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
                  CL_SCAN_HEURISTIC_ENCRYPTED_DOC | CL_SCAN_HEURISTIC_BROKEN;
    o.mail = 0;
    o.dev = 0;
    return o;
}

std::string format_db_time(long long t) {
    if (t <= 0) {
        return {};
    }
    const auto tt = static_cast<std::time_t>(t);
    std::tm tm{};
    if (gmtime_r(&tt, &tm) == nullptr) {
        return {};
    }
    std::array<char, 32> buf{};
    const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf.data(), n);
}

} // namespace

Result<void> init_clamav() {
    static bool initialised = false;
    if (initialised) {
        return {};
    }
    cl_set_clcb_msg(on_clamav_message);
    if (const cl_error_t rc = cl_init(CL_INIT_DEFAULT); rc != CL_SUCCESS) {
        return fail(ErrorCode::Internal, "av.init_failed", cl_strerror(rc));
    }
    initialised = true;
    return {};
}

struct AvEngine::Impl {
    EnginePtr engine;
    unsigned signatures = 0;
    std::string version;
};

AvEngine::AvEngine(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}

AvEngine::~AvEngine() = default;

Result<std::shared_ptr<const AvEngine>> AvEngine::load(const std::string& database_dir,
                                                       const ScanLimits& limits) {
    std::error_code ec;
    if (!std::filesystem::is_directory(database_dir, ec)) {
        return fail(ErrorCode::Unsupported, "av.database_missing", database_dir);
    }
    // cl_load fails with a generic "can't open" on a directory without signature files; say so.
    if (list_database_files(database_dir).empty()) {
        return fail(ErrorCode::Unsupported, "av.database_empty", database_dir);
    }

    EnginePtr engine(cl_engine_new());
    if (!engine) {
        return fail(ErrorCode::Internal, "av.load_failed", "cl_engine_new failed");
    }
    if (auto r = apply_limits(engine.get(), limits); !r) {
        return tl::unexpected(std::move(r.error()));
    }
    // Set before compiling: changing an engine's callbacks once scans run is not thread-safe.
    cl_engine_set_clcb_virus_found(engine.get(), on_virus_found);

    std::string messages;
    unsigned signatures = 0;
    t_load_messages = &messages;
    cl_error_t rc = cl_load(database_dir.c_str(), engine.get(), &signatures, CL_DB_STDOPT);
    if (rc == CL_SUCCESS && signatures > 0) {
        rc = cl_engine_compile(engine.get());
    }
    t_load_messages = nullptr;
    if (rc != CL_SUCCESS) {
        std::string detail = cl_strerror(rc);
        if (!messages.empty()) {
            detail += ": " + messages;
        }
        return fail(ErrorCode::Internal, "av.load_failed", std::move(detail));
    }
    if (signatures == 0) {
        return fail(ErrorCode::Unsupported, "av.database_empty", database_dir);
    }

    auto impl = std::make_unique<Impl>();
    impl->engine = std::move(engine);
    impl->signatures = signatures;
    int err = 0;
    const auto db_version = cl_engine_get_num(impl->engine.get(), CL_ENGINE_DB_VERSION, &err);
    const auto db_time = cl_engine_get_num(impl->engine.get(), CL_ENGINE_DB_TIME, &err);
    impl->version =
        std::string("libclamav ") + cl_retver() + ", db version " + std::to_string(db_version);
    if (auto t = format_db_time(db_time); !t.empty()) {
        impl->version += " (" + t + ")";
    }
    impl->version += ", " + std::to_string(signatures) + " signatures";
    return std::shared_ptr<const AvEngine>(new AvEngine(std::move(impl)));
}

Result<ScanResult> AvEngine::scan(std::span<const std::byte> bytes,
                                  std::string_view name_hint) const {
    // cl_fmap_open_memory refuses a zero-length map; an empty part holds nothing to find.
    if (bytes.empty()) {
        return ScanResult{};
    }
    FmapPtr map(cl_fmap_open_memory(bytes.data(), bytes.size()));
    if (!map) {
        return fail(ErrorCode::Transient, "av.scan_failed", "cl_fmap_open_memory failed");
    }
    const std::string name(name_hint);
    ScanContext ctx;
    cl_scan_options options = make_scan_options();
    const char* virname = nullptr;
    unsigned long scanned = 0;
    const cl_error_t rc =
        cl_scanmap_callback(map.get(), name.empty() ? nullptr : name.c_str(), &virname, &scanned,
                            impl_->engine.get(), &options, &ctx);
    if (ctx.out_of_memory) {
        return fail(ErrorCode::Transient, "av.scan_failed", "out of memory collecting names");
    }

    // Split libclamav's mix of verdicts and errors: everything that means "could not look at
    // everything" is an Incomplete verdict, only a failure of the engine itself is an error.
    std::string reason;
    switch (rc) {
    case CL_CLEAN: // also CL_SUCCESS
    case CL_VERIFIED:
    case CL_BREAK:
        break;
    case CL_VIRUS:
        if (ctx.names.empty() && virname != nullptr) {
            ctx.names.emplace_back(virname);
        }
        break;
    case CL_ETIMEOUT:
        reason = "timeout";
        break;
    case CL_EMAXREC:
    case CL_EMAXSIZE:
    case CL_EMAXFILES:
        reason = "limits.exceeded";
        break;
    case CL_EFORMAT:
    case CL_EPARSE:
    case CL_EUNPACK:
        reason = "corrupted";
        break;
    case CL_EMEM:
    case CL_ETMPFILE:
    case CL_ETMPDIR:
    case CL_ECREAT:
    case CL_EWRITE:
    case CL_EMAP:
        return fail(ErrorCode::Transient, "av.scan_failed", cl_strerror(rc));
    default:
        return fail(ErrorCode::Internal, "av.scan_failed", cl_strerror(rc));
    }

    return verdict_of(std::move(ctx.names), std::move(reason));
}

unsigned AvEngine::signature_count() const noexcept {
    return impl_->signatures;
}

std::string AvEngine::describe() const {
    return impl_->version;
}

std::string database_fingerprint(const std::string& database_dir) {
    std::string out;
    for (const auto& f : list_database_files(database_dir)) {
        out += f.name;
        out += '\t';
        out += std::to_string(f.size);
        out += '\t';
        out += std::to_string(f.mtime_ns);
        out += '\n';
    }
    return out;
}

} // namespace mugaika::filters::av
