"""The message lines under a form's fields and buttons: one look for every Settings section."""

ERROR_STYLE = "color: #c62828; font-size: 9pt;"
NOTE_STYLE = "color: #666666; font-size: 9pt;"
OK_STYLE = "color: #2e7d32; font-size: 9pt;"
