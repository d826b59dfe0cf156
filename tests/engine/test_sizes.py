"""One way to say a size, for every part of MediaDesk."""

from engine.sizes import size_words


def test_size_words() -> None:
    assert [size_words(n) for n in (0, 512, 7_400, 3_565_158, 5 * 1024**3, 3 * 1024**4)] == [
        "0 B", "512 B", "7.2 KB", "3.4 MB", "5.0 GB", "3072.0 GB"]
