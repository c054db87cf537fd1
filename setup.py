"""The packages the wheel holds: the four folders and all their subpackages, as sftscope.*.

pyproject.toml declares everything else. The folders the design card fixes (tui/
engines/ scorers/ sessions/) install as one namespace, sftscope.*: `tui` and
`engines` are other projects' names on PyPI, and a user's own sessions.py must
never shadow ours; `sftscope` itself is a namespace package. pyproject.toml cannot
declare this alone: `[tool.setuptools.packages.find]` names a package after the
folder it was found in (`tui.render`, not `sftscope.tui.render`). Finding them here
means a new subpackage ships without a list to keep in sync, and data folders
(scorers/templates, sessions/run/data) are packages too, so setuptools never warns
that an importable folder "would be ignored".
"""

from setuptools import find_namespace_packages, setup

FOLDERS = ("tui", "engines", "scorers", "sessions")

setup(
    package_dir={f"sftscope.{folder}": folder for folder in FOLDERS},
    packages=[
        f"sftscope.{name}"
        for name in find_namespace_packages(
            include=[pattern for folder in FOLDERS for pattern in (folder, f"{folder}.*")],
            exclude=["*.__pycache__"],
        )
    ],
)
