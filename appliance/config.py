"""One typed configuration: embedded defaults, then a TOML file, then APPLIANCE_* variables.

Every key can be overridden from the environment: top-level keys as APPLIANCE_<KEY>
(e.g. APPLIANCE_DATA_DIR), section keys as APPLIANCE_<SECTION>_<KEY>
(e.g. APPLIANCE_SYNC_DICOMWEB_URL for `[sync] dicomweb_url`). The defaults run the demo:
SQLite under ./var, onnxruntime on the CPU, the reference model, the simulated camera.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.tomlfile import read_toml

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "APPLIANCE_"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4
    max_upload_bytes: int = 64 * 1024 * 1024
    #: Photos decoded (every pixel: 36 MB for 12 megapixels) and gated at once; more wait (appliance/admission.py).
    photos_at_once: int = 2
    #: Exams whose photos are decoded and scored at once; more wait.
    results_at_once: int = 2
    #: How long a request waits for a free slot before the box answers busy (503, Retry-After), seconds.
    busy_wait_s: float = 15.0


@dataclass
class ModelConfig:
    #: Manifest of the model to load; a relative path is taken from models_dir.
    manifest: str = "dr-reference.toml"
    #: Folder of the models and their manifests; "" = the models/ folder beside the firmware (a checkout's).
    #: An installed box runs from an update slot, whose launcher points this at the slot's models/.
    models_dir: str = ""
    #: "auto" (TensorRT when an engine and the libraries exist, else onnxruntime),
    #: "onnxruntime" or "tensorrt".
    runner: str = "auto"
    #: Where TensorRT engines are cached; relative to data_dir.
    engine_dir: str = "engines"
    intra_op_threads: int = 2


@dataclass
class LimitsConfig:
    max_image_bytes: int = 30 * 1024 * 1024
    max_image_megapixels: float = 50.0
    min_image_side: int = 128


#: The default profile's combined score (appliance/quality/profiles/default.toml, [quality.score_model]).
DEFAULT_SCORE_MODEL: dict[str, tuple[float, ...]] = {
    "focus": (1.35590481, 0.688918809, -0.349967266),
    "vessel_visibility": (0.159933202, 0.0670251687, -0.036919249),
    "vessel_visibility_centre": (0.116009519, 0.0652339773, 0.43196312),
    "detail_ratio": (-0.387287903, 0.215814702, -0.644104496),
    "pixel_noise": (-3.33357845, 0.425144845, -0.137584131),
    "illum_dark_fraction": (0.0211289282, 0.0516685656, -0.143080653),
    "illum_bright_fraction": (0.0410396185, 0.0590780629, -0.529551608),
    "illum_quadrant_ratio": (0.695750972, 0.130632329, -0.557107457),
    "illum_centre_ratio": (1.15461234, 0.158645857, 0.0380401278),
    "illum_rim_max": (1.24878749, 0.274871369, -0.0424589149),
    "disc_prominence": (0.445745657, 0.207646577, -0.287678314),
    "illum_rim_min": (0.722918246, 0.131812156, -0.208396328),
    "mean_green": (90.2162193, 28.9164991, -1.48729178),
    "black_fraction": (0.00512109302, 0.0169084972, 0.0283481355),
    "saturated_fraction": (0.00161873709, 0.00858061574, 0.264758827),
    "cool_fraction": (0.0139450989, 0.0591238285, 0.213231788),
    "neutral_fraction": (0.00383967491, 0.0245375549, 0.18107178),
    "saturation": (0.693500892, 0.17420092, -0.937005093),
    "intercept": (-5.56019986,),
}


@dataclass
class QualityConfig:
    """Thresholds of the image-quality gate (pure checks in appliance/quality), per camera profile.

    `profile` names a file in appliance/quality/profiles (without ".toml") or is a path to a
    profile file (as `appliance quality-calibrate` writes); its [quality] values are applied
    first, then the config file's own [quality] keys, then APPLIANCE_QUALITY_* variables. The
    defaults below are the "default" profile (a test keeps the two equal). Each threshold's
    metric is described in appliance/quality/rules.py; a "min" threshold of 0 or a "max" one of
    1000 switches its check off. docs/QUALITY.md has what each profile measured.
    """

    #: Camera profile whose thresholds are loaded before the keys below override them.
    profile: str = "default"
    #: Failed photos of one eye after which the kiosk advises dilation or referral.
    max_attempts: int = 3

    # --- not a fundus photo: the aperture --------------------------------------------------
    #: Field of view: the fundus circle's diameter / the image's shorter side, at least...
    min_fov_diameter_fraction: float = 0.5
    #: ...and at most (a disc clipped at the top and bottom of the frame spans up to ~1.4).
    max_fov_diameter_fraction: float = 1.6
    #: Field of view: share of the image that must be inside the fundus disc, at least.
    min_fov_area_fraction: float = 0.25
    #: Field of view: distance of the circle's centre from the image centre / shorter side, at most
    #: (further off, what is framed is no camera's aperture; closer, see max_field_centre_offset).
    max_fov_centre_offset: float = 0.5
    #: Field of view: share of the fitted circle (within the frame) that the bright field fills, at least.
    min_fov_fill: float = 0.75
    #: Field of view: share of the bright field lying outside the fitted circle, at most.
    max_fov_spill: float = 0.25
    #: Field of view: share of the circle's circumference traced by the disc's visible edge, at least.
    min_fov_arc_coverage: float = 0.3
    #: Field of view: share of the circumference traced by edge lying on the circle, at least.
    min_fov_rim_on_circle: float = 0.3
    #: Field of view: median distance of the edge from the circle / the radius, at most (an oval is far off).
    max_fov_rim_error: float = 0.06
    #: Field of view: mean brightest channel (0..255) of the surround outside the circle, at most.
    max_fov_surround_level: float = 50.0
    # --- not a fundus photo: what the aperture frames ---------------------------------------
    #: Median |Laplacian| of the green channel / its median level, at most.
    max_pixel_noise: float = 0.5
    #: Share of the field whose red channel is not the largest, at most.
    max_cool_fraction: float = 0.9
    #: The lesser of the bright-colourless share and the black-centre share (sclera and pupil), at most.
    max_anterior_eye: float = 0.08
    # --- exposure -----------------------------------------------------------------------------
    #: Exposure: mean of the green channel inside the field, 0..255: under it is too dark...
    too_dark_mean: float = 22.3083
    #: ...over it is overexposed (washed out).
    overexposed_mean: float = 196.623
    #: Exposure: share of pixels inside the field whose green channel is saturated (>= 250), at most.
    #: Green, not any channel: the red channel of a well-exposed light fundus often clips.
    max_saturated_fraction: float = 0.094202
    #: Exposure: share of pixels inside the field whose green channel is black (<= 10), at most.
    max_black_fraction: float = 0.143135
    # --- illumination ---------------------------------------------------------------------------
    #: Share of the field whose background is under 0.6 of its median, at most.
    max_illum_dark_fraction: float = 0.329541
    #: Share of the field whose background is over 1.5 times its median, at most.
    max_illum_bright_fraction: float = 0.346026
    #: Darkest / brightest quadrant of the background, at least.
    min_illum_quadrant_ratio: float = 0.19701
    #: Background at the centre / its median, at least.
    min_illum_centre_ratio: float = 0.684032
    #: Darkest rim sector / the median background, at least (eyelid, lashes).
    min_illum_rim: float = 0.174673
    #: Brightest rim sector / the median background, at most (a crescent).
    max_illum_rim: float = 3.28051
    # --- haze -----------------------------------------------------------------------------------
    #: Share of the field whose red channel is not the largest (a blue-grey veil), at most.
    max_haze_cool_fraction: float = 0.482105
    #: Share of the field that is bright and colourless (a white veil), at most.
    max_haze_neutral_fraction: float = 0.189225
    # --- focus ------------------------------------------------------------------------------------
    #: Focus: variance of the Laplacian of Gaussian (sigma 1 px) of the green channel, with the field
    #: resized to 256 px across, inside the eroded field; at least.
    min_focus: float = 0.260752
    #: Share of the field covered by visible vessels, at least.
    min_vessel_visibility: float = 0.00528469
    #: Share of the central field covered by visible vessels, at least.
    min_vessel_visibility_centre: float = 0.000172612
    # --- field position -------------------------------------------------------------------------
    #: The field of view's centre off the image's centre / shorter side, at most: further off, the
    #: camera was not aligned with the pupil (the field cut at the frame's edge).
    max_field_centre_offset: float = 0.2
    #: The optic disc's distance from the field's centre in radii, at most.
    max_field_offset: float = 0.85
    #: Relative brightness of a blob over its surround for it to count as the optic disc.
    min_disc_prominence: float = 0.2
    # --- combined score (appliance/quality/score.py) ------------------------------------------------
    #: The combined score's probability that graders would reject the photo, at most.
    max_reject_probability: float = 0.239496
    #: The combined score's logistic model: metric -> [centre, scale, weight], "intercept" -> [bias];
    #: empty for none. Set by a profile's [quality.score_model] table, not by the environment; a
    #: profile file without that table has none (it does not inherit the default profile's).
    score_model: dict[str, list[float]] = field(
        default_factory=lambda: {name: list(values) for name, values in DEFAULT_SCORE_MODEL.items()})


@dataclass
class CameraConfig:
    """The camera (appliance/devices; README "Cameras and scanners"): which kind, and the keys of that kind."""

    #: "simulated" (the shipped sample photos), "watch_folder" (files a camera exports to `folder`), "uvc"
    #: (a USB video camera at `device`, through OpenCV) or "serial" (a camera fired over the serial port
    #: `device`, docs/serial-protocol.md).
    kind: str = "simulated"
    #: Folder of sample photos for the simulated camera; "" = the samples shipped in the package.
    samples_dir: str = ""
    #: Seconds a press of "Photograph" waits for the photo (a file in the folder, the serial camera's image).
    wait_s: float = 30.0
    #: watch_folder: the folder the camera exports to (done/ and refused/ are made inside it); serial: the only
    #: folder an IMAGE-PATH reply may name.
    folder: str = ""
    #: watch_folder: a file counts as complete when its size has not changed for this many seconds.
    settle_s: float = 1.0
    #: watch_folder: a file that waited longer than this before a press is set aside (another patient's?).
    stale_s: float = 600.0
    #: uvc: a device index ("0") or path (/dev/fundus-camera); serial: the port (/dev/fundus-camera).
    device: str = ""
    #: uvc: frames grabbed per press, the sharpest kept (the quality gate's focus measure); 1 to 10.
    burst: int = 1
    #: serial: line speed, the time each reply may take, and how often a silence or a damaged photo is retried.
    baud: int = 115200
    timeout_s: float = 2.0
    retries: int = 2


@dataclass
class ScannerConfig:
    """A barcode scanner for the patient id (appliance/devices/scanner.py). A keyboard-wedge scanner needs no
    port: the new-exam page takes its fast typing ending in Enter as a scan."""

    #: Serial port of a USB-CDC scanner (/dev/barcode); "" = none.
    port: str = ""
    baud: int = 9600
    #: A scanned code is taken as the patient id only when it matches this regular expression in full.
    pattern: str = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"


@dataclass
class SyncConfig:
    """Sync with the clinic (appliance/sync): results to the PACS and the EHR, orders from the worklist.

    Nothing is sent while no target is set. Credentials: a token file (bearer) wins over a user name with
    `password_file` (or `password`, discouraged: it sits in the config file); they are never logged.
    """

    #: DICOMweb base URL of the PACS (STOW-RS goes to {dicomweb_url}/studies), e.g. http://pacs:8042/dicom-web.
    dicomweb_url: str = ""
    #: FHIR R4 base URL of the EHR: each result is POSTed there as a transaction Bundle.
    fhir_url: str = ""
    #: DIMSE C-STORE to the PACS as well (or instead): its host, port and called AE title.
    dimse_host: str = ""
    dimse_port: int = 104
    dimse_ae_title: str = "ANY-SCP"
    #: HTTP basic auth for DICOMweb and FHIR.
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    #: Bearer token for DICOMweb and FHIR, read from this file (one line).
    token_file: str = ""
    #: CA bundle that signs the servers' TLS certificates ("" = the system's).
    ca_file: str = ""
    #: This box as DICOM names it (Station Name, calling AE title) and the worklist's scheduled station.
    station_name: str = "DRSCREEN"
    ae_title: str = "DRSCREEN"
    #: The system (URI) of the clinic's patient identifiers: the EHR's Patient is matched on it.
    identifier_system: str = "urn:dr-screening-appliance:patient-id"
    #: Days the photos stay on the box after the archive confirmed them; 0 = never purge.
    retention_days: int = 0
    #: DICOM Modality Worklist (C-FIND) to offer the day's scheduled patients at the kiosk.
    worklist_host: str = ""
    worklist_port: int = 104
    worklist_ae_title: str = "ANY-SCP"
    #: Seconds between passes of the worker when nothing is due, and a send's network timeout.
    interval_s: float = 30.0
    timeout_s: float = 30.0
    #: A claimed item is someone else's to send again after this many seconds (longer than any send).
    lease_s: float = 300.0
    #: Retries: jittered exponential backoff from backoff_initial_s up to backoff_max_s.
    backoff_initial_s: float = 10.0
    backoff_max_s: float = 3600.0

    @property
    def configured(self) -> bool:
        """Whether any destination is set (the worker runs only then)."""
        return bool(self.dicomweb_url or self.dimse_host or self.fhir_url)

    @property
    def worklist_configured(self) -> bool:
        return bool(self.worklist_host)


@dataclass
class SiteConfig:
    """Site validation and the site operating point (`appliance validate-site`, `appliance operating-point`)."""

    #: A site operating point is adopted only from a report with at least this many referable photos
    #: (labelled, gate-passed): with fewer, the threshold for a target sensitivity is too uncertain.
    min_referable_photos: int = 50


@dataclass
class AuthConfig:
    """Sign-in at the kiosk (appliance/auth, appliance/kiosk/security.py); users come from `appliance user`."""

    #: A sign-in ends after this many seconds without activity (enforced by the server).
    idle_timeout_s: int = 180
    #: The kiosk warns this many seconds before the idle timeout ends a sign-in.
    idle_warning_s: int = 30
    #: Wrong PINs in a row after which an account is locked...
    max_failed_attempts: int = 5
    #: ...for this many seconds (an administrator can unlock it sooner).
    lockout_s: int = 300
    #: Create the demo users (demo-tech PIN 1234, demo-admin PIN 9876) when the box has no user.
    #: `make run` turns this on; never on a box that serves a network address.
    demo_users: bool = False
    #: Off only for a kiosk on a loopback address (the server refuses to serve otherwise).
    require_sign_in: bool = True
    #: Mark the sign-in cookie Secure (set when the kiosk is served over https).
    secure_cookie: bool = False
    #: Host names (with ":port" when not the served port) by which the kiosk may also be reached,
    #: comma-separated, e.g. "screening-box.local"; the served address and localhost always are.
    allowed_hosts: str = ""


@dataclass
class UpdateConfig:
    """Updates (appliance/fleet, `appliance update`): signed bundles into A/B slots, health-gated, rolled back
    by themselves; see the README's Updates."""

    #: Where the A/B slots (a/, b/) live.
    slots_root: str = "/opt/appliance/slots"
    #: Folder of the slots' state file (the active slot, its boot counter, the last update); "" = <data_dir>/update.
    #: The appliance service writes it (it counts its own starts); the slots stay read-only to it.
    state_dir: str = ""
    #: Folder of the trusted release keys (Ed25519 public keys, `*.pub`, PEM).
    keyring_dir: str = "/etc/appliance/keys"
    #: Revoked key ids, one a line; "" = revoked.txt in keyring_dir.
    revoked_keys: str = ""
    #: Restarts the appliance so that it boots the active slot.
    restart_command: str = "systemctl restart appliance"
    #: Seconds a new version has, after its restart, to pass its health check.
    health_timeout_s: float = 300.0
    #: Seconds an update waits for open exams to end before it gives up (the new slot stays installed).
    exam_wait_s: float = 900.0
    #: Starts of a new version on trial after which the box goes back to the previous one.
    max_boot_attempts: int = 3
    #: This box's board and JetPack major release as bundles name them ("" = found on the box).
    hardware: str = ""
    jetpack: str = ""


@dataclass
class MetricsConfig:
    """`GET /metrics` for the fleet's Prometheus (appliance/kiosk/metrics.py): no sign-in, no patient data."""

    #: Answer /metrics (404 when off).
    enabled: bool = True
    #: A file holding the bearer token a scraper must send ("" = none: whoever reaches the kiosk may read
    #: the metrics, as /healthz; set one when the kiosk serves a network address).
    token_file: str = ""


@dataclass
class DriftConfig:
    """The drift watch (appliance/drift): this site's gate rejects and model scores against the model's
    validation data, over a rolling window; a shift beyond a bound shows on /healthz, the status page and
    /metrics ("watch"), never stops screening."""

    #: The window: the newest this many gate verdicts (photos taken, retakes included)...
    window_photos: int = 300
    #: ...and this many scores of gradable photos by the model now loaded...
    window_scores: int = 300
    #: ...none older than this many days (0: no age limit).
    window_days: int = 30
    #: With fewer photos or scores in the window, the check waits ("too_few").
    min_photos: int = 100
    min_scores: int = 200
    #: The share of photos the gate is expected to reject of photos as a clinic takes them: the default
    #: profile rejected 8.7 % of EyePACS natural-colour photos as taken (unlabelled) and 1-5 % of the graded
    #: IDRiD, ODIR and EyePACS ones (docs/QUALITY.md). Set the site's own once its camera is calibrated.
    reference_reject_share: float = 0.09
    #: "watch" when the window's reject share is above reference_reject_share by more than this.
    max_reject_share_rise: float = 0.10
    #: "watch" when the window's scores are further than this (Kolmogorov-Smirnov distance, 0..1) from every
    #: mix of the model's validation scores (300 scores drawn from such a mix stay under 0.09).
    max_score_distance: float = 0.15
    #: "watch" when the closest mix needs more referable-like photos than this share (scores shifted up).
    max_referable_share: float = 0.4


@dataclass
class Config:
    #: Where the store keeps its database and images; relative paths are taken from the cwd.
    data_dir: str = "./var"
    #: Refuse to start unless the data folder is on an encrypted volume (appliance.store.at_rest; SECURITY.md).
    #: Off for the demo and the tests; the OS image turns it on for a clinic.
    require_encrypted_data: bool = False
    log_level: str = "INFO"
    server: ServerConfig = field(default_factory=ServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def models_path(self) -> Path:
        """Folder of the models: [model] models_dir, or the models/ folder beside the firmware."""
        return Path(self.model.models_dir) if self.model.models_dir else REPO_ROOT / "models"

    @property
    def manifest_path(self) -> Path:
        path = Path(self.model.manifest)
        return path if path.is_absolute() else self.models_path / path


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the config from defaults, an optional TOML file and the environment.

    The quality gate's camera profile (`[quality] profile`, or APPLIANCE_QUALITY_PROFILE) is
    applied first; the file's other [quality] keys and APPLIANCE_QUALITY_* variables then
    override single thresholds. The settings an administrator saved in the data folder
    (appliance.site_settings: camera kind, quality profile) override the file, not the environment.

    Raises:
        ConfigError: unreadable file, unknown key or profile, or a value of the wrong type.
    """
    from appliance.site_settings import read_settings  # here: it reads TOML through this package's errors

    env = os.environ if env is None else env
    config = Config()
    values = _read_toml(Path(path)) if path is not None else {}
    site = read_settings(Path(str(env.get(f"{ENV_PREFIX}DATA_DIR") or values.get("data_dir") or config.data_dir)))
    quality = values.get("quality")
    profile = env.get(f"{ENV_PREFIX}QUALITY_PROFILE") or site.quality_profile or (
        quality.get("profile") if isinstance(quality, Mapping) else None) or config.quality.profile
    config.quality = quality_profile(str(profile))
    _apply_mapping(config, values, where=str(path))
    config.quality.profile = str(profile)
    if site.camera_kind is not None:
        config.camera.kind = site.camera_kind
    _apply_env(config, env)
    _check_ranges(config)
    return config


def _check_ranges(config: Config) -> None:
    """Values of the right type that still make no sense."""
    if config.site.min_referable_photos < 1:
        raise ConfigError("Configuration value [site] min_referable_photos must be at least 1, "
                          f"not {config.site.min_referable_photos}.")
    server = config.server
    if server.photos_at_once < 1 or server.results_at_once < 1 or server.busy_wait_s < 0:
        raise ConfigError("Configuration values [server] photos_at_once and results_at_once must be at least 1, "
                          "busy_wait_s 0 or more.")
    auth = config.auth
    for name in ("idle_timeout_s", "idle_warning_s", "max_failed_attempts", "lockout_s"):
        if getattr(auth, name) < 1:
            raise ConfigError(f"Configuration value [auth] {name} must be at least 1, not {getattr(auth, name)}.")
    sync = config.sync
    for name in ("interval_s", "timeout_s", "lease_s", "backoff_initial_s", "backoff_max_s"):
        if getattr(sync, name) <= 0:
            raise ConfigError(f"Configuration value [sync] {name} must be positive, not {getattr(sync, name)}.")
    if sync.lease_s <= sync.timeout_s:
        raise ConfigError(f"Configuration value [sync] lease_s ({sync.lease_s}) must be longer than timeout_s "
                          f"({sync.timeout_s}): a send must end before its claim does.")
    if sync.retention_days < 0:
        raise ConfigError(f"Configuration value [sync] retention_days must be 0 (keep) or more, not "
                          f"{sync.retention_days}.")
    camera = config.camera
    for name in ("wait_s", "settle_s", "stale_s", "timeout_s"):
        if getattr(camera, name) <= 0:
            raise ConfigError(f"Configuration value [camera] {name} must be positive, not {getattr(camera, name)}.")
    if not 1 <= camera.burst <= 10 or camera.retries < 0:
        raise ConfigError("Configuration values [camera] burst must be 1 to 10 and retries 0 or more.")
    try:
        re.compile(config.scanner.pattern)
    except re.error as exc:
        raise ConfigError(f"Configuration value [scanner] pattern is not a regular expression: {exc}.") from exc
    update = config.update
    if update.health_timeout_s <= 0 or update.exam_wait_s < 0 or update.max_boot_attempts < 1:
        raise ConfigError("Configuration values [update] health_timeout_s must be positive, exam_wait_s 0 or more "
                          "and max_boot_attempts at least 1.")
    _check_drift(config.drift)
    if auth.idle_warning_s >= auth.idle_timeout_s:
        raise ConfigError(f"Configuration value [auth] idle_warning_s ({auth.idle_warning_s}) must be less than "
                          f"idle_timeout_s ({auth.idle_timeout_s}).")


def _check_drift(drift: DriftConfig) -> None:
    for name in ("window_photos", "window_scores", "min_photos", "min_scores"):
        if getattr(drift, name) < 1:
            raise ConfigError(f"Configuration value [drift] {name} must be at least 1, not {getattr(drift, name)}.")
    if drift.window_days < 0:
        raise ConfigError(f"Configuration value [drift] window_days must be 0 (no limit) or more, not "
                          f"{drift.window_days}.")
    for name in ("reference_reject_share", "max_reject_share_rise", "max_score_distance", "max_referable_share"):
        if not 0.0 <= getattr(drift, name) <= 1.0:
            raise ConfigError(f"Configuration value [drift] {name} must be a share from 0 to 1, not "
                              f"{getattr(drift, name)}.")


#: The camera profiles shipped with the gate.
PROFILE_DIR = Path(__file__).resolve().parent / "quality" / "profiles"


def quality_profile_path(profile: str) -> Path:
    """The file of a camera profile: a name shipped in PROFILE_DIR, or a path to a .toml file."""
    if profile.endswith(".toml") or "/" in profile or "\\" in profile:
        return Path(profile)
    return PROFILE_DIR / f"{profile}.toml"


def quality_profile(profile: str) -> QualityConfig:
    """The gate's thresholds of a camera profile: QualityConfig's defaults, then the profile file's
    [quality] table; its [quality.score_model] table is the combined score, none without it. A
    profile file may also hold a free-form [profile] table (its provenance).

    Raises:
        ConfigError: no such profile, an unreadable file, or an unknown or mistyped key.
    """
    path = quality_profile_path(profile)
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
        raise ConfigError(f"Unknown quality profile '{profile}': no file {path} (shipped profiles: {shipped})")
    values = _read_toml(path)
    unknown = set(values) - {"quality", "profile"}
    if unknown:
        raise ConfigError(f"Unknown table(s) {sorted(unknown)} in quality profile {path}")
    table = values.get("quality", {})
    if not isinstance(table, Mapping) or "profile" in table:
        raise ConfigError(f"Quality profile {path} needs a [quality] table of thresholds (without 'profile')")
    thresholds = QualityConfig(profile=profile, score_model={})  # a profile's score is its own or none
    _apply_mapping(thresholds, table, where=str(path))
    from appliance.quality.score import check_model  # here: appliance.quality imports this module

    try:
        check_model(thresholds.score_model)
    except ValueError as exc:
        raise ConfigError(f"Quality profile {path}: {exc}") from exc
    return thresholds


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ConfigError, f"Configuration file not found: {path}",
                     f"Configuration file {path} cannot be read")


def _apply_mapping(target: Any, values: Mapping[str, Any], where: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"Unknown configuration key '{key}' in {where}")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{key}' in {where} must be a [section]")
            _apply_mapping(current, value, where=f"{where} [{key}]")
        else:
            setattr(target, key, _coerce(value, type(current), f"{key} in {where}"))


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    for top in dataclasses.fields(config):
        value = getattr(config, top.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                name = f"{ENV_PREFIX}{top.name}_{sub.name}".upper()
                if name in env:
                    current = getattr(value, sub.name)
                    setattr(value, sub.name, _coerce(env[name], type(current), name))
        else:
            name = f"{ENV_PREFIX}{top.name}".upper()
            if name in env:
                setattr(config, top.name, _coerce(env[name], type(value), name))


def _coerce(value: Any, kind: type, where: str) -> Any:
    """Turn a TOML or environment value into the default's type, or raise ConfigError."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind is int and isinstance(value, float):
            raise ValueError(value)
        if kind in (int, float, str):
            return kind(value)
        if kind is dict and not isinstance(value, Mapping):
            raise ValueError(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Configuration value for {where} must be {kind.__name__}: {value!r}") from exc
    return value
