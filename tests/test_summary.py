"""Summaries: seed 000's Table 6.1 reproduced from its Table 5.1, summary.json statistics, CSV."""

import csv
import io

import pytest

from jaxseg.metrics import case_statistics, describe, markdown_table, statistics_table, summarize, to_csv

COLUMNS = ("tra", "sag", "cor", "tra_sag", "tra_cor", "sag_cor", "comb", "3D")
# Seed 000, Table 5.1: IoU per test pig (37 pigs) for each plane, plane ensemble and the 3D net.
TABLE_5_1 = """
10969 .951 .952 .910 .952 .952 .952 .960 .777
21955 .962 .963 .925 .961 .962 .964 .972 .761
19813 .963 .966 .928 .964 .964 .966 .972 .769
21967 .965 .964 .926 .966 .966 .964 .972 .790
21797 .953 .957 .922 .958 .954 .957 .962 .779
21979 .963 .959 .916 .962 .963 .959 .964 .763
21798 .946 .945 .909 .950 .947 .945 .951 .786
21991 .960 .964 .926 .963 .960 .965 .970 .778
21800 .949 .953 .917 .954 .949 .954 .959 .784
22004 .964 .962 .922 .961 .964 .962 .968 .751
21811 .965 .957 .919 .966 .966 .958 .966 .791
22005 .948 .950 .907 .952 .948 .950 .954 .777
21816 .958 .961 .918 .966 .958 .961 .965 .792
22008 .963 .967 .924 .967 .963 .967 .971 .772
21828 .958 .963 .925 .964 .959 .963 .969 .774
22009 .965 .966 .928 .969 .966 .966 .972 .761
21887 .943 .948 .907 .948 .943 .948 .951 .795
22010 .966 .963 .921 .967 .967 .964 .971 .766
21901 .965 .961 .927 .966 .965 .961 .971 .772
22011 .931 .919 .892 .939 .931 .920 .933 .811
21920 .938 .945 .907 .943 .938 .945 .948 .793
22012 .955 .963 .919 .962 .956 .963 .968 .780
21943 .956 .957 .914 .958 .957 .957 .961 .786
22013 .953 .955 .919 .961 .954 .956 .961 .783
21951 .956 .957 .919 .959 .956 .957 .961 .758
22066 .949 .955 .910 .954 .949 .955 .957 .756
21952 .956 .960 .915 .962 .957 .961 .963 .782
22216 .952 .956 .915 .960 .952 .957 .961 .790
21953 .896 .895 .855 .910 .896 .895 .899 .797
22323 .955 .957 .914 .958 .956 .957 .964 .764
21954 .956 .961 .920 .959 .956 .961 .965 .778
23303 .951 .957 .917 .959 .951 .958 .961 .782
23494 .954 .960 .919 .959 .955 .960 .966 .768
31125 .956 .966 .918 .965 .957 .966 .969 .785
31338 .965 .961 .918 .961 .966 .962 .968 .778
32385 .966 .967 .923 .969 .967 .968 .973 .781
32576 .962 .965 .923 .965 .963 .966 .971 .786
"""
# Seed 000, Table 6.1: the summary statistics of Table 5.1 (sample std).
TABLE_6_1 = {
    "mean": (0.954, 0.956, 0.916, 0.958, 0.955, 0.956, 0.962, 0.778),
    "std": (0.013, 0.014, 0.013, 0.011, 0.013, 0.014, 0.013, 0.013),
    "min": (0.896, 0.895, 0.855, 0.910, 0.896, 0.895, 0.899, 0.751),
    "25%": (0.951, 0.955, 0.914, 0.958, 0.952, 0.956, 0.961, 0.769),
    "50%": (0.956, 0.960, 0.919, 0.961, 0.957, 0.960, 0.965, 0.779),
    "75%": (0.963, 0.963, 0.923, 0.965, 0.963, 0.964, 0.970, 0.786),
    "max": (0.966, 0.967, 0.928, 0.969, 0.967, 0.968, 0.973, 0.811),
}


def _table_5_1() -> dict[str, list[float]]:
    rows = [line.split() for line in TABLE_5_1.strip().splitlines()]
    assert len(rows) == 37
    return {name: [float(row[1 + i]) for row in rows] for i, name in enumerate(COLUMNS)}


def test_table_6_1_reproduced_from_table_5_1():
    columns = _table_5_1()
    for i, name in enumerate(COLUMNS):
        stats = describe(columns[name])
        for stat, expected in TABLE_6_1.items():
            assert round(stats[stat], 3) == pytest.approx(expected[i], abs=1e-9), (name, stat)
    table = statistics_table(columns)
    assert table.splitlines()[0] == "| | " + " | ".join(COLUMNS) + " |"
    assert "| mean | 0.954 | 0.956 | 0.916 | 0.958 | 0.955 | 0.956 | 0.962 | 0.778 |" in table
    assert table.splitlines()[-1] == "| max | 0.966 | 0.967 | 0.928 | 0.969 | 0.967 | 0.968 | 0.973 | 0.811 |"


def _per_case():
    return [{"case_id": f"c{i}", "metrics": {"liver": {"Dice": d, "HD95": h}, "tumour": {"Dice": d / 2, "HD95": 2 * h}}}
            for i, (d, h) in enumerate([(0.9, 1.0), (0.7, 3.0), (0.8, float("inf"))])]


def test_summary_json_layout_and_per_class_statistics():
    summary = summarize(_per_case())
    assert set(summary) == {"metric_per_case", "mean", "foreground_mean", "n_cases", "n_failed", "failed_cases"}
    assert (summary["n_cases"], summary["n_failed"], summary["failed_cases"]) == (3, 0, [])
    assert summary["mean"]["liver"]["Dice"] == pytest.approx(0.8)
    assert summary["foreground_mean"]["Dice"] == pytest.approx((0.8 + 0.4) / 2)
    statistics = case_statistics(_per_case())
    liver = statistics["liver"]["Dice"]
    assert liver["std"] == pytest.approx(0.1) and liver["25%"] == pytest.approx(0.75) and liver["min"] == 0.7
    assert statistics["tumour"]["HD95"]["max"] == float("inf")  # one empty mask: reported, not hidden


def test_csv_has_one_row_per_case_and_class():
    rows = list(csv.reader(io.StringIO(to_csv(summarize(_per_case())))))
    assert rows[0] == ["case_id", "class", "Dice", "HD95", "error"]
    assert rows[1] == ["c0", "liver", "0.9", "1.0", ""]
    assert rows[-1] == ["c2", "tumour", "0.4", "inf", ""]
    assert len(rows) == 1 + 3 * 2


def test_failed_cases_are_counted_and_listed_in_every_report():
    failed = [{"case_id": "c9", "file": "/data/c9.nii.gz", "reason": "not a readable NIfTI file"}]
    summary = summarize(_per_case(), failed)
    assert (summary["n_cases"], summary["n_failed"], summary["failed_cases"]) == (3, 1, failed)
    assert summary["mean"]["liver"]["Dice"] == pytest.approx(0.8)  # over the 3 scored cases
    rows = list(csv.reader(io.StringIO(to_csv(summary))))
    assert rows[-1] == ["c9", "", "", "", "/data/c9.nii.gz: not a readable NIfTI file"]
    assert markdown_table(summary).splitlines()[-2:] == [
        "Means over 3 cases; 1 failed and are not in them:", "- c9: /data/c9.nii.gz: not a readable NIfTI file"]


def test_describe_needs_values():
    with pytest.raises(ValueError, match="no values"):
        describe([])
