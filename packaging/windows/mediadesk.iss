; Inno Setup script for MediaDesk on Windows (Inno Setup 6: https://jrsoftware.org/isinfo.php).
; Build dist\MediaDesk first (see packaging\windows\README.md), then from the repository root:
;   iscc /DAppVersion=0.1.0 packaging\windows\mediadesk.iss
; Output: dist\MediaDesk-<version>-windows-x64-setup.exe. Installs per user by default (no admin rights needed;
; the user may choose "all users" in the dialog), adds a Start menu entry, an optional desktop icon, and an
; uninstaller that keeps the user's data (%LOCALAPPDATA%\MediaDesk).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "MediaDesk"
#define AppExe "mediadesk.exe"
#define SrcDir "..\..\dist\MediaDesk"

[Setup]
; A fixed AppId: upgrades replace the previous install instead of adding a second one. Never change it.
AppId={{6F1B9C2E-4D7A-4B8E-9C31-5A2E8D7F0B14}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=MediaDesk
AppComments=Every WhatsApp Business media file, kept.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64-setup
SetupIconFile=mediadesk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller folder: mediadesk.exe and _internal\ (Python, Qt, MediaDesk's migrations and resources).
Source: "{#SrcDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; A previous version's _internal\ may hold files the new one no longer ships: start from a clean folder.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
; The executable is a console-subsystem program (it also runs `mediadesk serve`, `migrate`, ...). The shortcut
; starts it minimised so the console window stays out of the way; see README.md for the windowed-launcher option.
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; IconFilename: "{app}\{#AppExe}"; Flags: runminimized
Name: "{group}\{#AppName} demo"; Filename: "{app}\{#AppExe}"; Parameters: "demo"; WorkingDir: "{app}"; IconFilename: "{app}\{#AppExe}"; Flags: runminimized
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; IconFilename: "{app}\{#AppExe}"; Tasks: desktopicon; Flags: runminimized

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent runminimized

; [UninstallDelete] is deliberately absent: the database, media files and backups in %LOCALAPPDATA%\MediaDesk
; belong to the user and survive an uninstall.
