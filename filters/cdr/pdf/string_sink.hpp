#pragma once
// A qpdf pipeline that appends to a std::string: QPDFWriter's setOutputMemory() keeps the file in
// a Pl_Buffer and copies it twice more on the way out (getBuffer, then into a string).

#include <string>

#include <qpdf/Pipeline.hh>

namespace mugaika::filters::cdr::pdf {

/// Appends everything written to `out` (borrowed; must outlive the sink). Per-call object.
class StringSink final : public Pipeline {
public:
    explicit StringSink(std::string& out) : Pipeline("cdr string sink", nullptr), out_(out) {}
    void write(unsigned char const* data, size_t len) override {
        out_.append(reinterpret_cast<const char*>(data), len);
    }
    void finish() override {}

private:
    std::string& out_;
};

} // namespace mugaika::filters::cdr::pdf
