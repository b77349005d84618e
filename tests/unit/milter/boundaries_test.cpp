// The module boundaries of STYLE.md, kept by reading the #include lines of every source.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> includes_under(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(
             std::string(MUGAIKA_SOURCE_DIR) + "/" + dir)) {
        const auto ext = e.path().extension();
        if (ext != ".cpp" && ext != ".hpp") {
            continue;
        }
        std::ifstream in(e.path());
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("#include", 0) == 0) {
                out.push_back(e.path().filename().string() + ": " + line);
            }
        }
    }
    return out;
}

bool mentions(const std::string& line, const std::string& what) {
    return line.find(what) != std::string::npos;
}

} // namespace

TEST_CASE("boundaries: filters never include gateway or milter") {
    const auto lines = includes_under("filters");
    REQUIRE_FALSE(lines.empty());
    for (const auto& l : lines) {
        CAPTURE(l);
        CHECK_FALSE(mentions(l, "gateway/"));
        CHECK_FALSE(mentions(l, "milter/"));
        CHECK_FALSE(mentions(l, "gmime"));
        CHECK_FALSE(mentions(l, "Poco/"));
    }
}

TEST_CASE("boundaries: milter includes only gateway's public headers, filters/core and libmilter") {
    const auto lines = includes_under("milter");
    REQUIRE_FALSE(lines.empty());
    for (const auto& l : lines) {
        CAPTURE(l);
        // filters/core is the shared vocabulary (Result, Error); no filter step is.
        CHECK_FALSE((mentions(l, "filters/") && !mentions(l, "filters/core/")));
        CHECK_FALSE(mentions(l, "gmime"));
        CHECK_FALSE(mentions(l, "clamav"));
        CHECK_FALSE(mentions(l, "Poco/"));
        CHECK_FALSE(mentions(l, "gateway/mime/"));
        CHECK_FALSE(mentions(l, "gateway/audit/"));
    }
}
