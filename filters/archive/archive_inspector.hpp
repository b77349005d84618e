#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::archive {

/// Bounds on what one inspect() call may expand. Every limit that is hit is the LimitExceeded
/// verdict with its own reason code; nothing is ever truncated silently.
struct ArchiveLimits {
    std::size_t max_depth = 4;                    ///< nesting levels; top-level members are 1
    std::size_t max_members = 10000;              ///< entries, all levels, directories included
    std::uint64_t max_total_size = 500ULL << 20;  ///< inflated bytes, all levels together
    std::uint64_t max_member_size = 100ULL << 20; ///< inflated bytes of one member
    double max_ratio = 100.0;                     ///< all inflated bytes / input bytes
    std::uint64_t min_ratio_size = 1ULL << 20;    ///< ratio checked once this much is inflated
};

/// One listed entry (directories are counted against max_members but not listed).
struct Member {
    /// UTF-8. Raw names that are not UTF-8 are read as CP932 (Japanese Windows zips), else every
    /// byte >= 0x80 is shown as \xNN. A single compressed file (gzip, bzip2, xz...) has no
    /// stored name: it is named after name_hint without its compression suffix, else "data".
    std::string path;
    /// Member paths of the enclosing archives below the top level, '/'-joined: "" for members of
    /// the inspected input, "inner.zip" for members of inner.zip, "inner.zip/deeper.7z" below it.
    std::string outer;
    std::size_t depth = 1;   ///< 1 for members of the inspected input
    std::uint64_t size = 0;  ///< inflated bytes counted while reading (header size if encrypted)
    std::string type;        ///< from the detect callback on the first 64 KiB; "" if none
    bool encrypted = false;  ///< the data is encrypted and was not read
    bool is_archive = false; ///< listed recursively (its members follow it)
};

/// What inspect() found.
enum class ArchiveStatus : std::uint8_t {
    Listed,        ///< every member was read and listed within the limits
    Encrypted,     ///< some member or header is encrypted (PPAP); the rest is listed
    LimitExceeded, ///< archive bomb: depth, member count, size or ratio limit hit; listing stopped
    Corrupt,       ///< truncated or damaged (also a nested archive that is)
    NotArchive,    ///< not one of the supported formats
};

/// The listing and verdict for one input.
struct ArchiveReport {
    ArchiveStatus status = ArchiveStatus::NotArchive;
    /// "zip", "7z", "rar", "rar5", "tar", "tar.gz", "tar.bz2", "tar.xz", "tar.lzma", "tar.zst",
    /// "gzip", "bzip2", "xz", "lzma", "zstd", "lzh", "cab", "iso9660"; "" when NotArchive.
    std::string format;
    std::vector<Member> members; ///< depth-first, an archive member before its own members
    /// "" when Listed/NotArchive, else "archive.depth_exceeded", "archive.members_exceeded",
    /// "archive.size_exceeded", "archive.ratio_exceeded", "archive.encrypted", "archive.corrupt".
    std::string reason;
    std::uint64_t expanded = 0; ///< inflated bytes counted, all levels (<= max_total_size + 1)
};

/// Lists archives with libarchive. Thread-safe: inspect() is const and keeps its state on the
/// stack (it switches the calling thread's LC_CTYPE to C.UTF-8 for the call with uselocale, so
/// libarchive converts names to UTF-8; the process locale is untouched).
class ArchiveInspector {
public:
    /// `detect` types a member from its first bytes (libmagic in the gateway); it must be
    /// thread-safe if inspect() runs on several threads. Empty: Member::type stays "".
    explicit ArchiveInspector(ArchiveLimits limits,
                              std::function<std::string(std::span<const std::byte>)> detect = {});

    /// Lists `bytes` (borrowed for the call only) if it is a zip, 7z, rar/rar5, tar (plain or
    /// gzip/bzip2/xz/lzma/zstd), single gzip/bzip2/xz/lzma/zstd file, lha/lzh, cab or iso9660;
    /// anything else is NotArchive. `name_hint` only names single compressed files.
    /// Members that are archives are listed recursively up to max_depth. Inflated bytes are
    /// counted while reading (headers lie) and reading stops at a limit: never more than
    /// max_total_size + 1 bytes are inflated, and at most 64 KiB per member is kept unless the
    /// member is an archive to recurse into (then up to max_member_size). Passwords are never
    /// tried. Damaged input is the Corrupt verdict; Error only for internal failures
    /// ("archive.internal": libarchive or locale setup failed, out of memory).
    [[nodiscard]] Result<ArchiveReport> inspect(std::span<const std::byte> bytes,
                                                std::string_view name_hint) const;

private:
    ArchiveLimits limits_;
    std::function<std::string(std::span<const std::byte>)> detect_;
};

} // namespace mugaika::filters::archive
