#include "filters/cdr/office/ole2.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace mugaika::filters::cdr::office {
namespace {

constexpr std::array<unsigned char, 8> signature{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
constexpr std::uint32_t end_of_chain = 0xFFFFFFFEU;
constexpr std::uint32_t no_stream = 0xFFFFFFFFU;
constexpr std::string_view malformed = "cdr.office.malformed";

std::uint16_t u16(std::span<const std::byte> b, std::size_t off) noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[off]) |
                                      (std::to_integer<unsigned>(b[off + 1]) << 8U));
}

std::uint32_t u32(std::span<const std::byte> b, std::size_t off) noexcept {
    return static_cast<std::uint32_t>(u16(b, off)) |
           (static_cast<std::uint32_t>(u16(b, off + 2)) << 16U);
}

/// UTF-16LE directory name to UTF-8; control characters as "\xNN".
std::string entry_name(std::span<const std::byte> raw, std::size_t bytes) {
    std::string out;
    for (std::size_t i = 0; i + 1 < bytes && i + 1 < raw.size(); i += 2) {
        const std::uint32_t c = u16(raw, i);
        if (c == 0) {
            break;
        }
        if (c < 0x20) {
            static constexpr std::string_view hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4U];
            out += hex[c & 15U];
        } else if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0U | (c >> 6U));
            out += static_cast<char>(0x80U | (c & 0x3FU));
        } else {
            // Surrogates are written as they come: names are for reporting only.
            out += static_cast<char>(0xE0U | (c >> 12U));
            out += static_cast<char>(0x80U | ((c >> 6U) & 0x3FU));
            out += static_cast<char>(0x80U | (c & 0x3FU));
        }
    }
    return out;
}

} // namespace

bool is_ole2(std::span<const std::byte> in) noexcept {
    if (in.size() < signature.size()) {
        return false;
    }
    for (std::size_t i = 0; i < signature.size(); ++i) {
        if (std::to_integer<unsigned char>(in[i]) != signature[i]) {
            return false;
        }
    }
    return true;
}

bool Ole2File::sector_ok(std::uint32_t s) const noexcept {
    const std::uint64_t off = (static_cast<std::uint64_t>(s) + 1) << sector_shift_;
    return s < 0xFFFFFFFAU && off + (1ULL << sector_shift_) <= in_.size();
}

std::span<const std::byte> Ole2File::sector(std::uint32_t s) const noexcept {
    const std::uint64_t off = (static_cast<std::uint64_t>(s) + 1) << sector_shift_;
    return in_.subspan(static_cast<std::size_t>(off), std::size_t{1} << sector_shift_);
}

std::vector<std::uint32_t> Ole2File::chain(std::uint32_t start) const {
    std::vector<std::uint32_t> out;
    std::uint32_t s = start;
    // A chain visits each sector at most once: more steps than FAT entries is a loop.
    while (s != end_of_chain) {
        if (s >= fat_.size() || !sector_ok(s) || out.size() > fat_.size()) {
            return {};
        }
        out.push_back(s);
        s = fat_[s];
    }
    return out;
}

Result<Ole2File> Ole2File::open(std::span<const std::byte> in) {
    Ole2File f;
    f.in_ = in;
    if (!is_ole2(in) || in.size() < 512) {
        return fail(ErrorCode::Malformed, malformed, "not an OLE2 file");
    }
    f.sector_shift_ = u16(in, 0x1E);
    f.mini_shift_ = u16(in, 0x20);
    if ((f.sector_shift_ != 9 && f.sector_shift_ != 12) || f.mini_shift_ != 6) {
        return fail(ErrorCode::Malformed, malformed, "bad sector size");
    }
    const std::size_t ssize = std::size_t{1} << f.sector_shift_;
    const std::size_t per_sector = ssize / 4;
    const std::uint64_t max_sectors = in.size() / ssize;
    const std::uint32_t fat_sectors = u32(in, 0x2C);
    const std::uint32_t dir_start = u32(in, 0x30);
    f.mini_cutoff_ = u32(in, 0x38);
    const std::uint32_t minifat_start = u32(in, 0x3C);
    std::uint32_t difat_next = u32(in, 0x44);
    const std::uint32_t difat_count = u32(in, 0x48);
    if (fat_sectors > max_sectors || difat_count > max_sectors) {
        return fail(ErrorCode::Malformed, malformed, "sector counts exceed the file");
    }
    std::vector<std::uint32_t> fat_list;
    for (std::size_t i = 0; i < 109 && fat_list.size() < fat_sectors; ++i) {
        fat_list.push_back(u32(in, 0x4C + 4 * i));
    }
    for (std::uint32_t n = 0; fat_list.size() < fat_sectors; ++n) {
        if (n >= difat_count || !f.sector_ok(difat_next)) {
            return fail(ErrorCode::Malformed, malformed, "truncated DIFAT");
        }
        const auto sec = f.sector(difat_next);
        for (std::size_t i = 0; i + 1 < per_sector && fat_list.size() < fat_sectors; ++i) {
            fat_list.push_back(u32(sec, 4 * i));
        }
        difat_next = u32(sec, ssize - 4);
    }
    f.fat_.reserve(fat_list.size() * per_sector);
    for (std::uint32_t s : fat_list) {
        if (!f.sector_ok(s)) {
            return fail(ErrorCode::Malformed, malformed, "FAT sector outside the file");
        }
        const auto sec = f.sector(s);
        for (std::size_t i = 0; i < per_sector; ++i) {
            f.fat_.push_back(u32(sec, 4 * i));
        }
    }
    const std::vector<std::uint32_t> dir = f.chain(dir_start);
    if (dir.empty()) {
        return fail(ErrorCode::Malformed, malformed, "broken directory chain");
    }
    if (minifat_start != end_of_chain && minifat_start != no_stream) {
        for (std::uint32_t s : f.chain(minifat_start)) {
            const auto sec = f.sector(s);
            for (std::size_t i = 0; i < per_sector; ++i) {
                f.minifat_.push_back(u32(sec, 4 * i));
            }
        }
    }

    struct Raw {
        std::string name;
        unsigned type = 0;
        std::uint32_t left = no_stream, right = no_stream, child = no_stream, start = 0;
        std::uint64_t size = 0;
    };
    std::vector<Raw> raw;
    raw.reserve(dir.size() * (ssize / 128));
    for (std::uint32_t s : dir) {
        const auto sec = f.sector(s);
        for (std::size_t off = 0; off + 128 <= ssize; off += 128) {
            const auto e = sec.subspan(off, 128);
            Raw r;
            const std::size_t name_len = std::min<std::size_t>(u16(e, 0x40), 64);
            r.name = entry_name(e, name_len);
            r.type = std::to_integer<unsigned>(e[0x42]);
            r.left = u32(e, 0x44);
            r.right = u32(e, 0x48);
            r.child = u32(e, 0x4C);
            r.start = u32(e, 0x74);
            r.size = u32(e, 0x78); // version 3 files leave the high half undefined
            if (f.sector_shift_ == 12) {
                r.size |= static_cast<std::uint64_t>(u32(e, 0x7C)) << 32U;
            }
            raw.push_back(std::move(r));
        }
    }
    if (raw.empty() || raw[0].type != 5) {
        return fail(ErrorCode::Malformed, malformed, "no root entry");
    }
    f.mini_stream_start_ = raw[0].start;

    // Walk the red-black trees iteratively; each entry is visited once (loops are malformed).
    std::vector<bool> seen(raw.size(), false);
    seen[0] = true;
    std::vector<std::pair<std::uint32_t, std::string>> todo; // (entry id, parent path)
    if (raw[0].child != no_stream) {
        todo.emplace_back(raw[0].child, "");
    }
    while (!todo.empty()) {
        auto [id, parent] = std::move(todo.back());
        todo.pop_back();
        if (id >= raw.size() || seen[id]) {
            return fail(ErrorCode::Malformed, malformed, "directory loop or bad entry id");
        }
        seen[id] = true;
        const Raw& r = raw[id];
        if (r.type != 1 && r.type != 2) {
            return fail(ErrorCode::Malformed, malformed, "bad directory entry type");
        }
        Ole2Entry e;
        e.name = r.name;
        e.path = parent.empty() ? r.name : parent + "/" + r.name;
        e.storage = r.type == 1;
        e.start = r.start;
        e.size = r.size;
        if (r.left != no_stream) {
            todo.emplace_back(r.left, parent);
        }
        if (r.right != no_stream) {
            todo.emplace_back(r.right, parent);
        }
        if (e.storage && r.child != no_stream) {
            todo.emplace_back(r.child, e.path);
        }
        f.entries_.push_back(std::move(e));
    }
    std::sort(f.entries_.begin(), f.entries_.end(),
              [](const Ole2Entry& a, const Ole2Entry& b) { return a.path < b.path; });
    return f;
}

std::string Ole2File::read_prefix(const Ole2Entry& e, std::size_t max) const {
    std::string out;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(e.size, max));
    if (e.storage || want == 0) {
        return out;
    }
    if (e.size >= mini_cutoff_) {
        for (std::uint32_t s : chain(e.start)) {
            const auto sec = sector(s);
            const std::size_t n = std::min(want - out.size(), sec.size());
            out.append(reinterpret_cast<const char*>(sec.data()), n);
            if (out.size() >= want) {
                break;
            }
        }
        return out;
    }
    // Mini stream: 64-byte sectors inside the root entry's stream.
    const std::vector<std::uint32_t> big = chain(mini_stream_start_);
    const std::size_t mini = std::size_t{1} << mini_shift_;
    const std::size_t per_big = (std::size_t{1} << sector_shift_) / mini;
    std::uint32_t m = e.start;
    std::size_t steps = 0;
    while (m != end_of_chain && out.size() < want && steps++ <= minifat_.size()) {
        if (m >= minifat_.size() || m / per_big >= big.size()) {
            return {};
        }
        const auto sec = sector(big[m / per_big]).subspan((m % per_big) * mini, mini);
        const std::size_t n = std::min(want - out.size(), mini);
        out.append(reinterpret_cast<const char*>(sec.data()), n);
        m = minifat_[m];
    }
    return out;
}

} // namespace mugaika::filters::cdr::office
