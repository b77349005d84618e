#include "gateway/util/sha256.hpp"

#include <array>
#include <new>

namespace mugaika::gateway {
namespace {

const EVP_MD* sha256_md() {
    static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

} // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || sha256_md() == nullptr ||
        EVP_DigestInit_ex(ctx_, sha256_md(), nullptr) != 1) {
        EVP_MD_CTX_free(ctx_);
        throw std::bad_alloc();
    }
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(ctx_);
}

void Sha256::update(const void* data, std::size_t size) {
    if (size > 0) {
        EVP_DigestUpdate(ctx_, data, size);
    }
}

std::string Sha256::hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md.data(), &len);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 15];
    }
    return out;
}

} // namespace mugaika::gateway
