#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mugaika::filters::cdr::image {

/// The raster formats the image engine reads, told apart by their first bytes.
enum class ImageFormat : std::uint8_t {
    Unknown, ///< none of the below
    Jpeg,    ///< FF D8 FF
    Png,     ///< 89 50 4E 47 0D 0A 1A 0A
    Gif,     ///< GIF87a, GIF89a
    Bmp,     ///< BM
    Tiff,    ///< II*\0, MM\0*, and BigTIFF (II+\0, MM\0+)
    Webp,    ///< RIFF....WEBP
};

/// Lower-case name of a format ("jpeg"); "unknown" for Unknown.
[[nodiscard]] std::string_view to_string(ImageFormat f) noexcept;

/// The format of `bytes` from its signature. Thread-safe (pure).
[[nodiscard]] ImageFormat sniff_format(std::span<const std::byte> bytes) noexcept;

/// What a walk over the container structure (JPEG markers, PNG chunks, GIF blocks, RIFF chunks,
/// the first TIFF directory, BMP headers) found, without decoding any pixel.
struct ImageScan {
    ImageFormat format = ImageFormat::Unknown;
    /// Offset just past the image data (JPEG EOI, PNG IEND, GIF trailer, RIFF size, BMP pixel
    /// array); `npos` when the structure ended early (truncated) or, for TIFF, whose data may
    /// lie anywhere, always.
    std::size_t end = npos;
    /// Kinds of metadata found, each once, in the order first seen: "EXIF", "XMP", "IPTC",
    /// "ICC profile", "comment", "text chunk", "time chunk", "private chunk", "application
    /// segment", "application extension", "plain text extension", "text tags", "GPS".
    std::vector<std::string> metadata;
    /// Frames found by the walk (GIF images, WebP ANMF chunks, APNG acTL count, TIFF
    /// directories); 1 for still images.
    std::uint64_t frames = 1;
    /// WebP only: the (first) image is lossless VP8L.
    bool lossless = false;

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

/// Walks the structure of `bytes` (any format; Unknown gives an empty scan). Never reads past
/// the buffer, never allocates more than the metadata list, never fails: a broken structure
/// just stops the walk with `end == npos` (the decoder then reports the error). Thread-safe.
[[nodiscard]] ImageScan scan_image(std::span<const std::byte> bytes);

} // namespace mugaika::filters::cdr::image
