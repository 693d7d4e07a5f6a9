"""The watch-folder camera kind: photo files a fundus camera exports to a folder (see camera.py)."""

from appliance.devices.watch_folder.camera import FolderSettings, WatchFolderCamera

__all__ = ["FolderSettings", "WatchFolderCamera"]
