#pragma once

#include <memory>

namespace mugaika::filters {

/// Deleter that calls a C free function; used by CPtr.
template <auto Free> struct FnDeleter {
    template <class T> void operator()(T* p) const noexcept { Free(p); }
};

/// Owning pointer to a C resource released by Free. Thread-compatible, like unique_ptr.
template <class T, auto Free> using CPtr = std::unique_ptr<T, FnDeleter<Free>>;

} // namespace mugaika::filters
