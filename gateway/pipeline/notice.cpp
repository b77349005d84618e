#include "gateway/pipeline/notice.hpp"

#include <algorithm>
#include <utility>

#include "gateway/util/encoding.hpp"

namespace mugaika::gateway {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
}

void list_items(std::string& out, const std::vector<RemovedItem>& items) {
    for (const RemovedItem& r : items) {
        const std::string name =
            r.filename.empty() ? "(名前なし / unnamed, part " + r.path + ")" : r.filename;
        out +=
            "  - " + name + " (" + r.detected_type + ", " + group_thousands(r.size) + " bytes)\n";
        out += "    SHA-256: " + r.sha256 + "\n";
        if (!r.note.empty()) {
            out += "    " + r.note + "\n";
        }
    }
}

/// A reader's name for what a CDR engine removed, from its code ("pdf.javascript").
std::string removed_label(std::string_view kind) {
    static const std::pair<std::string_view, std::string_view> labels[] = {
        {"javascript", "JavaScript"},
        {"vba", "マクロ / macros"},
        {"macro", "マクロ / macros"},
        {"activex", "ActiveX"},
        {"dde", "DDE"},
        {"launch", "プログラム起動 / program launch"},
        {"submit", "フォーム送信 / form submission"},
        {"xfa", "XFA フォーム / XFA form"},
        {"embedded", "埋め込みファイル / embedded file"},
        {"attachment", "埋め込みファイル / embedded file"},
        {"ole", "埋め込みオブジェクト / embedded object"},
        {"object", "埋め込みオブジェクト / embedded object"},
        {"external", "外部参照 / external reference"},
        {"template", "外部テンプレート / external template"},
        {"uri", "リンク / link"},
        {"hyperlink", "リンク / link"},
        {"link", "リンク / link"},
        {"metadata", "メタデータ / metadata"},
        {"trailing", "画像の後ろの余分なデータ / data after the image"},
        {"member", "圧縮ファイル内のファイル / file in the archive"},
        {"control", "制御文字 / control characters"},
        {"media", "マルチメディア / multimedia"},
        {"flattened", "画像化 / rendered to images"},
    };
    for (const auto& [key, label] : labels) {
        if (kind.find(key) != std::string_view::npos) {
            return std::string(label);
        }
    }
    return std::string(kind);
}

void list_rebuilt(std::string& out, const std::vector<RebuiltItem>& items) {
    for (const RebuiltItem& r : items) {
        out += "  - " + (r.filename.empty() ? std::string("(名前なし / unnamed)") : r.filename);
        if (!r.new_filename.empty()) {
            out += " → " + r.new_filename;
        }
        out += " (" + r.engine + ", " + group_thousands(r.size) + " bytes)\n";
        // Counts per label, in order of first appearance.
        std::vector<std::pair<std::string, std::size_t>> counts;
        std::vector<std::string> urls;
        std::vector<std::string> members;
        for (const auto& x : r.removed) {
            const std::string label = removed_label(x.kind);
            auto it = std::find_if(counts.begin(), counts.end(),
                                   [&](const auto& c) { return c.first == label; });
            if (it == counts.end()) {
                counts.emplace_back(label, 1);
            } else {
                ++it->second;
            }
            if (!x.url.empty() && std::find(urls.begin(), urls.end(), x.url) == urls.end()) {
                urls.push_back(x.url);
            }
            if (x.kind.find("member") != std::string::npos && !x.location.empty()) {
                members.push_back(x.location);
            }
        }
        if (counts.empty()) {
            out += "    除去したものはありません / nothing had to be removed\n";
        } else {
            std::string line;
            for (const auto& [label, n] : counts) {
                line += (line.empty() ? "" : ", ") + label + " " + std::to_string(n);
            }
            out += "    除去 / removed: " + line + "\n";
        }
        for (std::size_t i = 0; i < members.size() && i < 10; ++i) {
            out += "    除いたファイル / file removed: " + members[i] + "\n";
        }
        if (members.size() > 10) {
            out += "    (+" + std::to_string(members.size() - 10) + ")\n";
        }
        for (std::size_t i = 0; i < urls.size() && i < 20; ++i) {
            out += "    リンク先（文字のみ）/ link target, as text: " + urls[i] + "\n";
        }
        if (urls.size() > 20) {
            out += "    (+" + std::to_string(urls.size() - 20) + ")\n";
        }
    }
}

} // namespace

std::string render_notice(const Config& config, const NoticeFacts& f) {
    std::string changes;
    if (f.html_converted) {
        changes +=
            "・HTML形式の本文をテキストに変換しました。/ The HTML body was converted to plain "
            "text.\n";
        const auto& c = f.html_counts;
        std::string what;
        auto add = [&](std::size_t n, std::string_view ja, std::string_view en) {
            if (n == 0) {
                return;
            }
            if (!what.empty()) {
                what += ", ";
            }
            what += std::string(ja) + " " + std::to_string(n) + " / " + std::string(en) + " " +
                    std::to_string(n);
        };
        add(c.scripts, "スクリプト", "scripts");
        add(c.forms, "フォーム", "forms");
        add(c.iframes, "埋め込みフレーム", "frames");
        add(c.objects, "埋め込みオブジェクト", "objects");
        add(c.remote_images, "外部画像", "remote images");
        add(c.hidden, "非表示の要素", "hidden elements");
        if (!what.empty()) {
            changes += "  除去 / removed: " + what + "\n";
        }
        if (c.links > 0) {
            changes += "  リンク " + std::to_string(c.links) +
                       " 件は URL を文字で示しています（クリックする前に確認してください）。/ " +
                       std::to_string(c.links) +
                       " links are shown as text: check each URL before you open it.\n";
        }
    }
    if (f.html_counts.mismatched_links > 0) {
        const std::string n = std::to_string(f.html_counts.mismatched_links);
        changes += "・【注意】表示された文字とは異なる宛先を指すリンクが " + n +
                   " 件あります（なりすましの疑い）。/ Warning: " + n +
                   " links lead somewhere other than their text says (possible phishing).\n";
    }
    if (f.charset_fixed) {
        changes +=
            "・本文の文字コード表示が誤っていたため、内容から判定して読みました。/ The body's "
            "charset label was wrong; it was read by its content.\n";
    }
    if (f.inline_removed > 0) {
        changes += "・本文中の画像 " + std::to_string(f.inline_removed) + " 件を削除しました。/ " +
                   std::to_string(f.inline_removed) + " inline images were removed.\n";
    }
    if (!f.removed.empty()) {
        changes += "・添付ファイル " + std::to_string(f.removed.size()) + " 件を削除しました。/ " +
                   std::to_string(f.removed.size()) + " attachments were removed:\n";
        list_items(changes, f.removed);
    }
    if (!f.rebuilt.empty()) {
        changes += "・添付ファイル " + std::to_string(f.rebuilt.size()) +
                   " 件を無害化（再構成）して添付しています。/ " +
                   std::to_string(f.rebuilt.size()) +
                   " attachments were rebuilt without their active content (CDR):\n";
        list_rebuilt(changes, f.rebuilt);
    }
    if (!f.kept.empty()) {
        changes += "・次の添付ファイルは規則により変更せずに渡しています。/ These attachments "
                   "were passed unchanged by rule:\n";
        list_items(changes, f.kept);
    }
    if (changes.empty()) {
        changes = "・本文をテキストとして再構成しました。/ The body was rebuilt as plain text.\n";
    }
    std::string text = config.notice.template_text;
    // TOML multi-line strings keep the first line break after the quotes only when it is not
    // directly after them; normalise both ends.
    while (!text.empty() && text.front() == '\n') {
        text.erase(0, 1);
    }
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    if (!changes.empty() && changes.back() == '\n') {
        changes.pop_back();
    }
    replace_all(text, "{contact}", config.notice.contact);
    replace_all(text, "{audit_id}", f.audit_id);
    replace_all(text, "{changes}", changes);
    return text + "\n";
}

} // namespace mugaika::gateway
