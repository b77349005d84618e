#include "gateway/pipeline/notice.hpp"

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
