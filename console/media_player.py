"""A small player for audio and video messages (QtMultimedia), opened from a bubble's play button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QStyle, QVBoxLayout


def _mmss(ms: int) -> str:
    s = max(0, ms // 1000)
    return f"{s // 60}:{s % 60:02d}"


class MediaPlayerDialog(QDialog):
    """Plays one local file; video gets a picture, audio only the controls."""

    def __init__(self, path: Path, *, title: str, video: bool, parent: Any = None) -> None:
        super().__init__(parent)
        # Imported here: QtMultimedia loads its backend (FFmpeg) and costs start-up time nobody needs
        # until something is played.
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.player.setAudioOutput(self.audio)
        layout = QVBoxLayout(self)
        if video:
            from PySide6.QtMultimediaWidgets import QVideoWidget

            screen = QVideoWidget(self)
            screen.setMinimumSize(480, 270)
            self.player.setVideoOutput(screen)
            layout.addWidget(screen, 1)
        else:
            self.resize(420, 90)
        controls = QHBoxLayout()
        self.play_button = QPushButton(self)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.time = QLabel("0:00 / 0:00", self)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time)
        layout.addLayout(controls)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #ea0038")
        self.error.hide()
        layout.addWidget(self.error)
        self.player.durationChanged.connect(lambda d: self.slider.setRange(0, d))
        self.player.positionChanged.connect(self._position)
        self.player.playbackStateChanged.connect(self._state)
        self.player.errorOccurred.connect(lambda _e, text: self._show_error(text))
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self.player.play()

    def toggle(self) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    def _position(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        self.time.setText(f"{_mmss(ms)} / {_mmss(self.player.duration())}")

    def _state(self, state: Any) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        icon = (QStyle.StandardPixmap.SP_MediaPause if state == QMediaPlayer.PlaybackState.PlayingState
                else QStyle.StandardPixmap.SP_MediaPlay)
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _show_error(self, text: str) -> None:
        self.error.setText(f"This file cannot be played here: {text}")
        self.error.show()

    def closeEvent(self, event: Any) -> None:
        self.player.stop()
        super().closeEvent(event)
