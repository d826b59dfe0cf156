"""Data files MediaDesk ships: the app icon, the .desktop file and the demo's sample media.

A package only so that a plain `pip install` carries these files along with the code.
"""
