#pragma once
// qpdf decodes object streams and cross-reference streams in memory, in full, whatever their
// size: a 2 MB file whose object stream inflates to 2 GiB makes qpdf 11.3 allocate 4 GiB.
// This file replaces qpdf's decoders for the filters that can expand without bound
// (/FlateDecode, /LZWDecode, /RunLengthDecode) by decoders that count what they produce
// against a budget and stop when it is spent.

#include <cstdint>

namespace mugaika::filters::cdr::pdf {

/// Decoded bytes that qpdf may still produce on this thread. While a DecodeBudget is active
/// (between construction and destruction, on the constructing thread), every stream that qpdf
/// decodes on that thread counts against it; once spent, every further decode fails and
/// `exceeded()` is true. Without an active budget a single stream may decode to at most
/// `unscoped_stream_limit` bytes. Per-thread; not copyable; nest by stacking (the inner one
/// counts, the outer one is restored on destruction).
class DecodeBudget {
public:
    explicit DecodeBudget(std::uint64_t bytes) noexcept;
    DecodeBudget(const DecodeBudget&) = delete;
    DecodeBudget& operator=(const DecodeBudget&) = delete;
    ~DecodeBudget();

    /// True once a decode asked for more than was left.
    [[nodiscard]] bool exceeded() const noexcept { return exceeded_; }
    /// Bytes still allowed.
    [[nodiscard]] std::uint64_t remaining() const noexcept { return remaining_; }

    /// Takes `n` bytes from the budget active on this thread (or checks `n` against the
    /// per-stream limit when none is); false when they are not available.
    [[nodiscard]] static bool take(std::uint64_t n, std::uint64_t& stream_total) noexcept;

    static constexpr std::uint64_t unscoped_stream_limit = 256ULL << 20U;

private:
    std::uint64_t remaining_;
    bool exceeded_ = false;
    DecodeBudget* outer_ = nullptr;
};

/// Registers the bounded decoders with qpdf, once per process (later calls do nothing).
/// Thread-safe. qpdf's registry is process-wide: every QPDF object in the process uses the
/// bounded decoders from then on.
void install_bounded_decoders();

} // namespace mugaika::filters::cdr::pdf
