#include "filters/cdr/pdf/bounded_decode.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <qpdf/Pipeline.hh>
#include <qpdf/Pl_Flate.hh>
#include <qpdf/Pl_RunLength.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFStreamFilter.hh>

namespace mugaika::filters::cdr::pdf {
namespace {

thread_local DecodeBudget* active_budget = nullptr;

/// A predictor row longer than this is refused (the row buffers are allocated up front).
constexpr std::uint64_t max_row_bytes = 16ULL << 20U;

/// Passes data on while the budget lasts; throws when it is spent (qpdf turns the exception
/// into a failed decode).
class CountingPipeline final : public Pipeline {
public:
    explicit CountingPipeline(Pipeline* downstream) : Pipeline("cdr bounded decode", downstream) {}
    void write(unsigned char const* data, size_t len) override {
        if (!DecodeBudget::take(len, total_)) {
            throw std::length_error("decoded data exceeds the budget");
        }
        getNext()->write(data, len);
    }
    void finish() override { getNext()->finish(); }

private:
    std::uint64_t total_ = 0;
};

/// PNG predictors (/Predictor 10-15): each row starts with its own filter type byte.
class PngPredictor final : public Pipeline {
public:
    PngPredictor(Pipeline* downstream, std::size_t row_bytes, std::size_t bpp)
        : Pipeline("cdr png predictor", downstream), bpp_(bpp), cur_(row_bytes + 1),
          prev_(row_bytes + 1) {}
    void write(unsigned char const* data, size_t len) override {
        while (len > 0) {
            const std::size_t n = std::min(len, cur_.size() - pos_);
            std::memcpy(cur_.data() + pos_, data, n);
            pos_ += n;
            data += n;
            len -= n;
            if (pos_ == cur_.size()) {
                emit_row(cur_.size());
            }
        }
    }
    void finish() override {
        if (pos_ > 1) {
            std::fill(cur_.begin() + static_cast<std::ptrdiff_t>(pos_), cur_.end(), 0);
            emit_row(pos_);
        }
        pos_ = 0;
        getNext()->finish();
    }

private:
    void emit_row(std::size_t used) {
        unsigned char* x = cur_.data() + 1;
        const unsigned char* up = prev_.data() + 1;
        const std::size_t n = cur_.size() - 1;
        switch (cur_[0]) {
        case 0:
            break;
        case 1:
            for (std::size_t i = bpp_; i < n; ++i) {
                x[i] = static_cast<unsigned char>(x[i] + x[i - bpp_]);
            }
            break;
        case 2:
            for (std::size_t i = 0; i < n; ++i) {
                x[i] = static_cast<unsigned char>(x[i] + up[i]);
            }
            break;
        case 3:
            for (std::size_t i = 0; i < n; ++i) {
                const unsigned left = i >= bpp_ ? x[i - bpp_] : 0U;
                x[i] = static_cast<unsigned char>(x[i] + ((left + up[i]) / 2U));
            }
            break;
        case 4:
            for (std::size_t i = 0; i < n; ++i) {
                const int a = i >= bpp_ ? x[i - bpp_] : 0;
                const int b = up[i];
                const int c = i >= bpp_ ? up[i - bpp_] : 0;
                const int p = a + b - c;
                const int pa = std::abs(p - a);
                const int pb = std::abs(p - b);
                const int pc = std::abs(p - c);
                const int pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
                x[i] = static_cast<unsigned char>(x[i] + pred);
            }
            break;
        default:
            throw std::runtime_error("invalid PNG predictor filter type");
        }
        getNext()->write(x, used - 1);
        std::swap(cur_, prev_);
        pos_ = 0;
    }

    std::size_t bpp_;
    std::vector<unsigned char> cur_;
    std::vector<unsigned char> prev_;
    std::size_t pos_ = 0;
};

/// TIFF predictor 2 (horizontal differencing), 8 bits per component.
class TiffPredictor final : public Pipeline {
public:
    TiffPredictor(Pipeline* downstream, std::size_t row_bytes, std::size_t colors)
        : Pipeline("cdr tiff predictor", downstream), colors_(colors), row_(row_bytes) {}
    void write(unsigned char const* data, size_t len) override {
        while (len > 0) {
            const std::size_t n = std::min(len, row_.size() - pos_);
            std::memcpy(row_.data() + pos_, data, n);
            pos_ += n;
            data += n;
            len -= n;
            if (pos_ == row_.size()) {
                emit_row(pos_);
            }
        }
    }
    void finish() override {
        if (pos_ > 0) {
            emit_row(pos_);
        }
        getNext()->finish();
    }

private:
    void emit_row(std::size_t used) {
        for (std::size_t i = colors_; i < used; ++i) {
            row_[i] = static_cast<unsigned char>(row_[i] + row_[i - colors_]);
        }
        getNext()->write(row_.data(), used);
        pos_ = 0;
    }

    std::size_t colors_;
    std::vector<unsigned char> row_;
    std::size_t pos_ = 0;
};

/// /FlateDecode with the predictors of PDF 32000-1 7.4.4.4, counted.
class BoundedFlate final : public QPDFStreamFilter {
public:
    bool setDecodeParms(QPDFObjectHandle parms) override {
        if (parms.isNull()) {
            return true;
        }
        if (!parms.isDictionary()) {
            return false;
        }
        auto get = [&](const char* key, long long fallback, long long& out) {
            auto v = parms.getKey(key);
            if (v.isNull()) {
                out = fallback;
                return true;
            }
            return v.getValueAsInt(out);
        };
        long long predictor = 1;
        long long colors = 1;
        long long bpc = 8;
        long long columns = 1;
        if (!get("/Predictor", 1, predictor) || !get("/Colors", 1, colors) ||
            !get("/BitsPerComponent", 8, bpc) || !get("/Columns", 1, columns)) {
            return false;
        }
        if (predictor == 1) {
            return true;
        }
        if (colors < 1 || colors > 64 || columns < 1 ||
            !(bpc == 1 || bpc == 2 || bpc == 4 || bpc == 8 || bpc == 16)) {
            return false;
        }
        const auto bits = static_cast<std::uint64_t>(colors * bpc);
        if (static_cast<std::uint64_t>(columns) > max_row_bytes * 8 / bits) {
            return false;
        }
        row_bytes_ = (static_cast<std::uint64_t>(columns) * bits + 7) / 8;
        colors_ = static_cast<std::size_t>(colors);
        bpp_ = std::max<std::size_t>(1, static_cast<std::size_t>(bits / 8));
        if (predictor == 2) {
            // qpdf supports other sizes; object and xref streams use 8 bits when at all.
            if (bpc != 8) {
                return false;
            }
            predictor_ = Predictor::Tiff;
            return true;
        }
        if (predictor >= 10 && predictor <= 15) {
            predictor_ = Predictor::Png;
            return true;
        }
        return false;
    }

    Pipeline* getDecodePipeline(Pipeline* next) override {
        Pipeline* after_inflate = next;
        if (predictor_ == Predictor::Png) {
            predictor_pipe_ = std::make_unique<PngPredictor>(next, row_bytes_, bpp_);
            after_inflate = predictor_pipe_.get();
        } else if (predictor_ == Predictor::Tiff) {
            predictor_pipe_ = std::make_unique<TiffPredictor>(next, row_bytes_, colors_);
            after_inflate = predictor_pipe_.get();
        }
        counter_ = std::make_unique<CountingPipeline>(after_inflate);
        inflate_ = std::make_unique<Pl_Flate>("cdr inflate", counter_.get(), Pl_Flate::a_inflate);
        return inflate_.get();
    }

private:
    enum class Predictor : std::uint8_t { None, Tiff, Png };
    Predictor predictor_ = Predictor::None;
    std::size_t row_bytes_ = 0;
    std::size_t colors_ = 1;
    std::size_t bpp_ = 1;
    // Destroyed in reverse order: the first stage (inflate) before the ones it writes to.
    std::unique_ptr<Pipeline> predictor_pipe_;
    std::unique_ptr<Pipeline> counter_;
    std::unique_ptr<Pipeline> inflate_;
};

/// /RunLengthDecode, counted (up to 64:1 per stage).
class BoundedRunLength final : public QPDFStreamFilter {
public:
    Pipeline* getDecodePipeline(Pipeline* next) override {
        counter_ = std::make_unique<CountingPipeline>(next);
        decode_ = std::make_unique<Pl_RunLength>("cdr run length", counter_.get(),
                                                 Pl_RunLength::a_decode);
        return decode_.get();
    }
    bool isSpecializedCompression() override { return true; }

private:
    std::unique_ptr<Pipeline> counter_;
    std::unique_ptr<Pipeline> decode_;
};

/// /LZWDecode is never decoded: qpdf's decoder is unbounded (about 2700:1) and the filter is
/// obsolete for the object and xref streams that a rebuild must read. Other LZW streams are
/// copied as they are.
class RefusedFilter final : public QPDFStreamFilter {
public:
    bool setDecodeParms(QPDFObjectHandle /*parms*/) override { return false; }
    Pipeline* getDecodePipeline(Pipeline* /*next*/) override {
        throw std::logic_error("refused stream filter");
    }
};

} // namespace

DecodeBudget::DecodeBudget(std::uint64_t bytes) noexcept
    : remaining_(bytes), outer_(active_budget) {
    active_budget = this;
}

DecodeBudget::~DecodeBudget() {
    active_budget = outer_;
}

bool DecodeBudget::take(std::uint64_t n, std::uint64_t& stream_total) noexcept {
    stream_total += n;
    DecodeBudget* b = active_budget;
    if (b == nullptr) {
        return stream_total <= unscoped_stream_limit;
    }
    if (b->exceeded_ || n > b->remaining_) {
        b->exceeded_ = true;
        b->remaining_ = 0;
        return false;
    }
    b->remaining_ -= n;
    return true;
}

void install_bounded_decoders() {
    static std::once_flag once;
    std::call_once(once, [] {
        QPDF::registerStreamFilter("/FlateDecode", [] { return std::make_shared<BoundedFlate>(); });
        QPDF::registerStreamFilter("/RunLengthDecode",
                                   [] { return std::make_shared<BoundedRunLength>(); });
        QPDF::registerStreamFilter("/LZWDecode", [] { return std::make_shared<RefusedFilter>(); });
    });
}

} // namespace mugaika::filters::cdr::pdf
