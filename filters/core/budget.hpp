#pragma once

#include <chrono>
#include <cstddef>

#include "filters/core/result.hpp"

namespace mugaika::filters {

/// Time and output allowance for one message. Per-thread: each message owns its budget.
class Budget {
public:
    using Clock = std::chrono::steady_clock;

    /// A budget that ends `time` from now and allows `output_bytes` of produced output.
    Budget(std::chrono::milliseconds time, std::size_t output_bytes) noexcept
        : deadline_(Clock::now() + time), output_left_(output_bytes) {}

    /// An error with code "budget.time_exceeded" once the deadline has passed.
    [[nodiscard]] Result<void> check_time() const {
        if (Clock::now() > deadline_) {
            return fail(ErrorCode::LimitExceeded, "budget.time_exceeded");
        }
        return {};
    }

    /// Reserves n bytes of output; an error with code "budget.output_exceeded" when none are left.
    [[nodiscard]] Result<void> take_output(std::size_t n) {
        if (n > output_left_) {
            return fail(ErrorCode::LimitExceeded, "budget.output_exceeded");
        }
        output_left_ -= n;
        return {};
    }

    [[nodiscard]] std::size_t output_left() const noexcept { return output_left_; }
    [[nodiscard]] Clock::time_point deadline() const noexcept { return deadline_; }

private:
    Clock::time_point deadline_;
    std::size_t output_left_ = 0;
};

} // namespace mugaika::filters
