#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace mugaika::gateway {

/// Incremental SHA-256 over OpenSSL's EVP interface (hardware SHA extensions where present).
/// Cheap to construct: the digest implementation is fetched once per process, unlike
/// Poco::Crypto::DigestEngine, whose constructor runs OpenSSL's initializer and seeds a random
/// source every time. Thread-compatible: one object per thread.
class Sha256 {
public:
    Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    ~Sha256();

    void update(const void* data, std::size_t size);
    void update(std::string_view s) { update(s.data(), s.size()); }
    /// Lower-case hex of the digest; the object must not be updated afterwards.
    [[nodiscard]] std::string hex();

private:
    EVP_MD_CTX* ctx_ = nullptr;
};

} // namespace mugaika::gateway
