"""DICOM files for slides: a whole slide as a DICOM WSI series, and a small
instance that only names a slide file.

`write_series` turns any slide OpenSlide reads (an SVS, a tiled TIFF) into a
VL Whole Slide Microscopy Image series, one instance per pyramid level, JPEG
baseline tiles in TILED_FULL order: what a DICOM WSI scanner or converter
sends to a PACS, and what OpenSlide 4 opens again (all the series' files in
one directory). `write_reference` writes the kind of instance a lab's PACS
holds when the slide itself stays on a file share: a thumbnail whose tags
name the slide file.

Used by the tests and to load demo slides into Orthanc:

    python -m inference_worker.dicom_wsi slide.svs out/
    curl -u USER:PASS -X POST --data-binary @out/level-0.dcm $ORTHANC_URL/instances
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import openslide
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"
JPEG_QUALITY = 90


def write_series(
    slide_path: str | Path,
    out_dir: str | Path,
    *,
    tile: int = 256,
    patient_id: str = "DEMO",
    study_uid: str | None = None,
    series_uid: str | None = None,
    container: str = "",
) -> list[Path]:
    """Write the levels of the slide at `slide_path` as `level-N.dcm` in
    `out_dir` (created), one VOLUME instance per level; returns the files,
    level 0 first. `container` goes to ContainerIdentifier (the slide's
    barcode or name)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    paths = []
    with openslide.OpenSlide(str(slide_path)) as slide:
        mpp = float(slide.properties.get(openslide.PROPERTY_NAME_MPP_X) or 0.25)
        for level, (width, height) in enumerate(slide.level_dimensions):
            downsample = slide.level_downsamples[level]
            ds = _base(WSI_SOP_CLASS, patient_id=patient_id, study_uid=study_uid, series_uid=series_uid)
            ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
            ds.Modality = "SM"
            ds.ImageType = ["ORIGINAL" if level == 0 else "DERIVED", "PRIMARY", "VOLUME", "NONE"]
            ds.InstanceNumber = level + 1
            ds.ContainerIdentifier = container or Path(slide_path).stem
            ds.DimensionOrganizationType = "TILED_FULL"
            ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = width, height
            ds.TotalPixelMatrixFocalPlanes = 1
            ds.Rows = ds.Columns = tile
            _rgb_jpeg(ds)
            ds.NumberOfOpticalPaths = 1
            ds.OpticalPathSequence = [Dataset()]
            ds.OpticalPathSequence[0].OpticalPathIdentifier = "1"
            measures = Dataset()
            spacing_mm = mpp * downsample / 1000
            measures.PixelSpacing = [spacing_mm, spacing_mm]
            measures.SliceThickness = 0
            shared = Dataset()
            shared.PixelMeasuresSequence = [measures]
            ds.SharedFunctionalGroupsSequence = [shared]
            frames = list(_frames(slide, level, tile))
            ds.NumberOfFrames = len(frames)
            ds.PixelData = encapsulate(frames)
            ds["PixelData"].VR = "OB"
            path = out / f"level-{level}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def write_reference(
    path: str | Path,
    *,
    slide_file: str,
    thumbnail: Image.Image | None = None,
    patient_id: str = "DEMO",
    tag: str = "ContainerIdentifier",
) -> Path:
    """Write a Secondary Capture instance (a small thumbnail) whose `tag`
    holds `slide_file`, the name of the slide on the lab's file share."""
    image = (thumbnail or Image.new("RGB", (64, 48), (242, 240, 238))).convert("RGB")
    ds = _base(SECONDARY_CAPTURE_SOP_CLASS, patient_id=patient_id, study_uid=generate_uid(), series_uid=generate_uid())
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SeriesDescription = "Slide reference"
    setattr(ds, tag, slide_file)
    ds.Columns, ds.Rows = image.size
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = image.tobytes()
    path = Path(path)
    ds.save_as(path, enforce_file_format=True)
    return path


def _base(sop_class: str, *, patient_id: str, study_uid: str, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    return ds


def _rgb_jpeg(ds: Dataset) -> None:
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"


def _frames(slide: openslide.OpenSlide, level: int, tile: int) -> Iterator[bytes]:
    """The level's tiles as JPEG, row by row; edge tiles padded with white."""
    width, height = slide.level_dimensions[level]
    downsample = slide.level_downsamples[level]
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            size = (min(tile, width - x), min(tile, height - y))
            region = slide.read_region((round(x * downsample), round(y * downsample)), level, size)
            frame = Image.new("RGB", (tile, tile), (255, 255, 255))
            frame.paste(region.convert("RGB"))
            out = io.BytesIO()
            frame.save(out, format="JPEG", quality=JPEG_QUALITY)
            yield out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a slide as a DICOM WSI series (one file per level).")
    parser.add_argument("slide", type=Path, help="a slide OpenSlide reads (.svs, .tif, ...)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--patient-id", default="DEMO")
    args = parser.parse_args(argv)
    for path in write_series(args.slide, args.out_dir, patient_id=args.patient_id):
        print(path)


if __name__ == "__main__":
    main()
