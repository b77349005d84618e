#pragma once

#include <utility>

#include <glib-object.h>

namespace mugaika::gateway {

/// Owning reference to a GObject. Mirrors GMime's annotations: adopt() for (transfer full),
/// retain() for (transfer none) that we keep. Copy adds a reference, move steals it.
/// Thread-compatible (GObject refcounts are atomic, the objects themselves are not thread-safe).
template <class T> class GRef {
public:
    GRef() noexcept = default;
    [[nodiscard]] static GRef adopt(T* p) noexcept { return GRef(p); }
    [[nodiscard]] static GRef retain(T* p) noexcept {
        if (p != nullptr) {
            g_object_ref(p);
        }
        return GRef(p);
    }
    GRef(const GRef& o) noexcept : p_(o.p_) {
        if (p_ != nullptr) {
            g_object_ref(p_);
        }
    }
    GRef(GRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    GRef& operator=(GRef o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~GRef() {
        if (p_ != nullptr) {
            g_object_unref(p_);
        }
    }
    [[nodiscard]] T* get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    explicit GRef(T* p) noexcept : p_(p) {}
    T* p_ = nullptr;
};

} // namespace mugaika::gateway
