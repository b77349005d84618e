#pragma once
// A small reader for OLE2 compound files (legacy .doc/.xls/.ppt, encrypted OOXML): the directory
// tree and the start of a stream. Every offset and chain is bounds- and loop-checked. Internal
// to filters/cdr.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "filters/core/result.hpp"

namespace mugaika::filters::cdr::office {

/// The OLE2 signature D0 CF 11 E0 A1 B1 1A E1 at the start of `in`.
[[nodiscard]] bool is_ole2(std::span<const std::byte> in) noexcept;

/// One storage or stream.
struct Ole2Entry {
    std::string path; ///< "Macros/VBA/dir"; control characters written as "\x01"
    std::string name; ///< last component, same escaping
    bool storage = false;
    std::uint32_t start = 0;
    std::uint64_t size = 0;
};

/// A parsed compound file: borrowed bytes plus the sector tables.
class Ole2File {
public:
    /// Parses the header, FAT and directory of `in` (borrowed: must outlive the object).
    /// Error Malformed "cdr.office.malformed" when anything points outside the file or loops.
    [[nodiscard]] static Result<Ole2File> open(std::span<const std::byte> in);

    [[nodiscard]] const std::vector<Ole2Entry>& entries() const noexcept { return entries_; }

    /// The first `max` bytes (at most) of stream `e`; empty when it cannot be read.
    [[nodiscard]] std::string read_prefix(const Ole2Entry& e, std::size_t max) const;

private:
    std::span<const std::byte> in_;
    unsigned sector_shift_ = 9;
    unsigned mini_shift_ = 6;
    std::uint32_t mini_cutoff_ = 4096;
    std::uint32_t mini_stream_start_ = 0;
    std::vector<std::uint32_t> fat_;
    std::vector<std::uint32_t> minifat_;
    std::vector<Ole2Entry> entries_;

    [[nodiscard]] std::vector<std::uint32_t> chain(std::uint32_t start) const;
    [[nodiscard]] bool sector_ok(std::uint32_t s) const noexcept;
    [[nodiscard]] std::span<const std::byte> sector(std::uint32_t s) const noexcept;
};

} // namespace mugaika::filters::cdr::office
