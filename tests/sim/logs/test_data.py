"""Reading transaction logs: formats, column detection, values, and one-line errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.logs.data import (
    CANONICAL_COLUMNS,
    SINGLE_PRODUCT,
    ColumnMapping,
    TransactionLog,
    read_transaction_log,
    write_transaction_log,
)
from sim.logs.errors import InputError


def canonical_frame() -> pd.DataFrame:
    """A small log in canonical form, already sorted by date then customer."""
    quantity = np.array([1.0, 2.0, 3.0, 1.0, 4.0])
    unit_price = np.array([2.5, 0.99, 10.0, 2.5, 0.1])
    return pd.DataFrame(
        {
            "customer": pd.Series(["10", "c1", "c2", "10", "c1"], dtype="str"),
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-02", "2024-02-29"]
            ).as_unit("ns"),
            "product": pd.Series(["apple", "apple", "pear", "pear", "apple"], dtype="str"),
            "quantity": quantity,
            "unit_price": unit_price,
            "amount": quantity * unit_price,
            "promo": [False, True, False, False, True],
        }
    )


def write(directory: Path, name: str, text: str | bytes) -> Path:
    """Write ``text`` (UTF-8 if str) to ``directory/name`` and return the path."""
    path = directory / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def read_text(directory: Path, name: str, text: str, **mapping: str) -> TransactionLog:
    return read_transaction_log(write(directory, name, text), ColumnMapping(**mapping))


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", ["log.csv", "log.tsv", "log.parquet", "log.pq"])
def test_written_log_reads_back_identical(tmp_path: Path, name: str) -> None:
    expected = canonical_frame()
    path = write_transaction_log(expected, tmp_path / name)

    log = read_transaction_log(path)

    pd.testing.assert_frame_equal(log.frame, expected)
    assert list(log.frame.columns) == list(CANONICAL_COLUMNS)
    assert log.source == path
    assert log.column_sources == {
        "customer": "customer",
        "date": "date",
        "product": "product",
        "quantity": "quantity",
        "unit_price": "unit_price",
        "promo": "promo",
    }
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_whitespace_delimited_text_reads_back_identical(tmp_path: Path) -> None:
    expected = canonical_frame()
    path = tmp_path / "log.txt"
    expected.to_csv(path, sep=" ", index=False, date_format="%Y-%m-%d")

    pd.testing.assert_frame_equal(read_transaction_log(path).frame, expected)


def test_format_is_sniffed_from_content_when_suffix_says_nothing(tmp_path: Path) -> None:
    expected = canonical_frame()
    for name, separator in [("tabs.dat", "\t"), ("commas.log", ","), ("spaces", " ")]:
        path = tmp_path / name
        expected.to_csv(path, sep=separator, index=False, date_format="%Y-%m-%d")
        pd.testing.assert_frame_equal(read_transaction_log(path).frame, expected)
    parquet = write_transaction_log(expected, tmp_path / "log.parquet").rename(tmp_path / "blob")
    pd.testing.assert_frame_equal(read_transaction_log(parquet).frame, expected)


def test_writing_an_unknown_suffix_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected .csv, .tsv or .parquet"):
        write_transaction_log(canonical_frame(), tmp_path / "log.xlsx")


# ------------------------------------------------------------------------ column detection


def test_online_retail_style_columns_are_detected(tmp_path: Path) -> None:
    log = read_text(
        tmp_path,
        "retail.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
        "536366,22633,HAND WARMER,2,2010-11-30 09:00:00,1.85,13047,France\n",
    )

    assert log.column_sources == {
        "customer": "CustomerID",
        "date": "InvoiceDate",
        "quantity": "Quantity",
        "unit_price": "UnitPrice",
        "product": "StockCode",
    }
    frame = log.frame
    assert frame["customer"].tolist() == ["13047", "17850"]  # sorted by date
    assert frame["product"].tolist() == ["22633", "85123A"]
    assert frame["date"].tolist() == [pd.Timestamp("2010-11-30"), pd.Timestamp("2010-12-01")]
    assert frame["amount"].tolist() == pytest.approx([3.7, 15.3])
    assert not frame["promo"].any()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "user_id,order_date,qty,price_paid,sku,on_promo",
            ["user_id", "order_date", "qty", "price_paid", "sku", "on_promo"],
        ),
        (
            "Client,Timestamp,Units,Unit Price,Item-ID,Deal",
            ["Client", "Timestamp", "Units", "Unit Price", "Item-ID", "Deal"],
        ),
        (
            "HOUSEHOLD_KEY,TRANSACTION_DATE,QUANTITY,PRICE,ARTICLE,IS_PROMO",
            ["HOUSEHOLD_KEY", "TRANSACTION_DATE", "QUANTITY", "PRICE", "ARTICLE", "IS_PROMO"],
        ),
    ],
)
def test_column_synonyms_are_detected(tmp_path: Path, header: str, expected: list[str]) -> None:
    log = read_text(tmp_path, "log.csv", f"{header}\nu1,2024-03-05,2,1.5,p1,1\n")

    fields = ["customer", "date", "quantity", "unit_price", "product", "promo"]
    assert log.column_sources == dict(zip(fields, expected, strict=True))
    row = log.frame.iloc[0]
    assert (row["customer"], row["product"], row["amount"], row["promo"]) == ("u1", "p1", 3.0, True)


def test_explicit_mapping_overrides_detection(tmp_path: Path) -> None:
    log = read_text(
        tmp_path,
        "log.csv",
        "who,when,n,each,what,flag,quantity\nalice,2024-03-05,2,1.5,tea,yes,999\n",
        customer="who",
        date="when",
        quantity="n",
        price="each",
        product="what",
        promo="flag",
    )

    assert log.column_sources["quantity"] == "n"
    row = log.frame.iloc[0]
    assert (row["customer"], row["product"], row["quantity"], row["promo"]) == (
        "alice",
        "tea",
        2.0,
        True,
    )


def test_price_wins_over_amount_and_amount_is_recomputed(tmp_path: Path) -> None:
    log = read_text(tmp_path, "log.csv", "customer,date,qty,price,sales\nc,2024-03-05,2,1.5,99\n")

    assert "amount" not in log.column_sources
    assert log.frame["amount"].tolist() == [3.0]


def test_explicit_amount_is_used_even_when_a_price_column_exists(tmp_path: Path) -> None:
    log = read_text(
        tmp_path,
        "log.csv",
        "customer,date,qty,price,sales\nc,2024-03-05,2,1.5,5\n",
        amount="sales",
    )

    assert log.column_sources["amount"] == "sales"
    assert (log.frame["unit_price"].tolist(), log.frame["amount"].tolist()) == ([2.5], [5.0])


def test_amount_only_log_derives_the_unit_price(tmp_path: Path) -> None:
    log = read_text(
        tmp_path,
        "log.csv",
        "customer,date,quantity,amount\na,2024-03-05,4,10\nb,2024-03-05,0,0\n",
    )

    assert log.frame["unit_price"].tolist() == [2.5, 0.0]
    assert log.frame["amount"].tolist() == [10.0, 0.0]
    assert log.column_sources["amount"] == "amount"


def test_log_without_product_or_promo_gets_defaults(tmp_path: Path) -> None:
    log = read_text(tmp_path, "log.csv", "customer,date,quantity,price\na,2024-03-05,1,2\n")

    assert log.frame["product"].tolist() == [SINGLE_PRODUCT]
    assert log.frame["promo"].tolist() == [False]
    assert log.frame["promo"].dtype == bool
    assert set(log.column_sources) == {"customer", "date", "quantity", "unit_price"}


# -------------------------------------------------------------------------------- values


def test_compact_and_timestamped_dates_become_days(tmp_path: Path) -> None:
    dates = [
        "20240305",
        "2024-03-05",
        "2024-03-05T23:59:59",
        "2024-03-05 10:11:12",
        "2024-03-05T23:30:00+05:00",  # the local day is kept, not converted to UTC
        "2024-03-05 10:11:12.123456Z",
        "2024-3-5",
    ]
    text = "customer,date,quantity,price\n" + "".join(f"c,{d},1,1\n" for d in dates)

    log = read_text(tmp_path, "log.csv", text)

    assert log.frame["date"].dtype == "datetime64[ns]"
    assert set(log.frame["date"]) == {pd.Timestamp("2024-03-05")}


def test_typed_parquet_columns_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pd.DataFrame(
        {
            "customer_id": [123, 45],  # integer ids stay "123", not "123.0"
            "day": [20240305, 20240306],  # compact dates as integers
            "product_id": [7.0, 8.0],  # integral floats lose ".0"
            "qty": [1, 2],
            "price": [1.5, 2.0],
            "promo": [1, 0],
        }
    ).to_parquet(path)

    frame = read_transaction_log(path).frame

    assert frame["customer"].tolist() == ["123", "45"]
    assert frame["product"].tolist() == ["7", "8"]
    assert frame["date"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-06")]
    assert frame["promo"].tolist() == [True, False]


def test_parquet_timestamps_with_time_zone_become_local_days(tmp_path: Path) -> None:
    path = tmp_path / "tz.parquet"
    stamps = pd.to_datetime(["2024-03-05 23:30", "2024-03-06 00:10"]).tz_localize("Asia/Tokyo")
    pd.DataFrame(
        {"customer": ["a", "b"], "date": stamps, "qty": [1.0, 2.0], "price": [1.0, 1.0]}
    ).to_parquet(path)

    frame = read_transaction_log(path).frame

    assert frame["date"].tolist() == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-06")]
    assert frame["date"].dtype == "datetime64[ns]"


def test_promo_flags_accept_common_spellings(tmp_path: Path) -> None:
    flags = {"1": True, "0": False, "TRUE": True, "false": False, "Yes": True, "no": False,
             "y": True, "N": False, "t": True, "F": False, "": False}  # fmt: skip
    text = "customer,date,quantity,price,promo\n" + "".join(
        f"c{i:02d},2024-03-05,1,1,{flag}\n" for i, flag in enumerate(flags)
    )

    log = read_text(tmp_path, "log.csv", text)

    assert log.frame["promo"].tolist() == list(flags.values())


def test_rows_are_sorted_by_date_then_customer_stably(tmp_path: Path) -> None:
    text = (
        "customer,date,product,quantity,price\n"
        "b,2024-03-06,x,1,1\n"
        "b,2024-03-05,first,1,1\n"
        "a,2024-03-05,x,1,1\n"
        "b,2024-03-05,second,1,1\n"
    )

    frame = read_text(tmp_path, "log.csv", text).frame

    assert frame[["customer", "product"]].values.tolist() == [
        ["a", "x"],
        ["b", "first"],
        ["b", "second"],
        ["b", "x"],
    ]


def test_quoted_values_blank_lines_and_spaces_are_tolerated(tmp_path: Path) -> None:
    text = '\ncustomer, date, quantity, price\n\n"Smith, J.", 2024-03-05 , 1 , 2\n   \n'

    log = read_text(tmp_path, "log.csv", text)

    assert log.frame["customer"].tolist() == ["Smith, J."]
    assert log.column_sources["date"] == "date"


# ------------------------------------------------------------------------------- bad input

HEADER = "customer,date,quantity,price\n"
GOOD = "c1,2024-03-05,1,2\n"

BAD_INPUTS = [
    # (id, file name, content (None: do not create; "DIR": a directory), mapping, fragments)
    ("missing column suggestion", "log.csv", "customer,date,qtyy,price\n" + GOOD, {},
     ["log.csv", "quantity", "--quantity-col", "did you mean 'qtyy'?"]),
    ("unknown explicit column", "log.csv", HEADER + GOOD, {"quantity": "quantty"},
     ["log.csv", "no column 'quantty' for quantity", "did you mean 'quantity'?",
      "columns are: customer, date, quantity, price"]),
    ("no price nor amount", "log.csv", "customer,date,quantity,cost\n" + GOOD, {},
     ["log.csv", "--price-col", "--amount-col"]),
    ("non-numeric quantity", "log.csv", HEADER + GOOD + "c2,2024-03-05,two,2\n", {},
     ["log.csv, line 3", "quantity 'two'", "column 'quantity'", "expected a number"]),
    ("negative quantity", "log.csv", HEADER + "c2,2024-03-05,-1,2\n", {},
     ["log.csv, line 2", "'-1'", "must be >= 0"]),
    ("negative price", "log.tsv", HEADER.replace(",", "\t") + "c\t2024-03-05\t1\t-0.5\n", {},
     ["log.tsv, line 2", "price '-0.5'", "must be >= 0"]),
    ("NaN price", "log.csv", HEADER + GOOD + GOOD + "c2,2024-03-05,1,NaN\n", {},
     ["log.csv, line 4", "price 'NaN'", "is empty (expected a number)"]),
    ("empty price", "log.csv", HEADER + "c2,2024-03-05,1,\n", {},
     ["log.csv, line 2", "price in column 'price' is empty (expected a number)"]),
    ("inf", "log.csv", HEADER + "c2,2024-03-05,inf,1\n", {},
     ["log.csv, line 2", "quantity 'inf'", "not finite"]),
    ("unparseable date", "log.csv", HEADER + GOOD + "c2,2024-13-45,1,2\n", {},
     ["log.csv, line 3", "date '2024-13-45'", "expected YYYY-MM-DD or YYYYMMDD"]),
    ("slashed date", "log.csv", HEADER + "c2,12/1/2010 8:26,1,2\n", {},
     ["line 2", "'12/1/2010 8:26'", "is not a date"]),
    ("bad promo", "log.csv", "customer,date,quantity,price,promo\nc,2024-03-05,1,2,maybe\n", {},
     ["log.csv, line 2", "promo 'maybe'", "expected 1/0, true/false"]),
    ("empty customer", "log.csv", HEADER + GOOD + ",2024-03-05,1,2\n", {},
     ["log.csv, line 3", "customer", "is empty"]),
    ("zero quantity with amount", "log.csv", "customer,date,qty,amount\nc,2024-03-05,0,5\n", {},
     ["log.csv, line 2", "is 0", "cannot derive a unit price"]),
    ("blank lines counted", "log.csv", HEADER + GOOD + "\n\n" + "c2,2024-03-05,x,2\n", {},
     ["log.csv, line 5", "'x'"]),
    ("first bad row wins", "log.csv", HEADER + "c,2024-03-05,a,1\nc,2024-03-05,b,1\n", {},
     ["line 2", "'a'"]),
    ("too many values", "log.csv", HEADER + GOOD + "c2,2024-03-05,1,2,3\n", {},
     ["log.csv, line 3", "5 values", "4 columns"]),
    ("too many values on first row", "log.csv", HEADER + "c2,2024-03-05,1,2,3\n", {},
     ["log.csv, line 2", "more values than the header"]),
    ("unclosed quote", "log.csv", HEADER + 'c1,"2024-03-05,1,2\n', {}, ["log.csv", "quote"]),
    ("duplicate column", "log.csv", "customer,date,quantity,price, price\n" + GOOD, {},
     ["log.csv", "'price' appears more than once"]),
    ("0-byte file", "log.csv", b"", {}, ["log.csv", "is empty", "expected a table"]),
    ("blank text", "log.csv", "\n  \n", {}, ["log.csv", "blank", "expected a table"]),
    ("header only", "log.csv", HEADER, {}, ["log.csv", "no data rows"]),
    ("binary file", "log.dat", bytes(range(256)) * 4, {}, ["log.dat", "binary"]),
    ("png", "log.csv", b"\x89PNG\r\n\x1a\n" + bytes(100), {}, ["log.csv", "PNG image"]),
    ("xlsx", "log.csv", b"PK\x03\x04" + bytes(100), {}, ["log.csv", "export it as CSV"]),
    ("directory", "logs", "DIR", {}, ["logs", "is a directory"]),
    ("nonexistent path", "nowhere.csv", None, {}, ["nowhere.csv", "no such file"]),
    ("non-UTF-8 bytes", "log.csv", HEADER.encode() + b"Jos\xe9,2024-03-05,1,2\n", {},
     ["log.csv, line 2", "not UTF-8", "0xe9"]),
    ("single column", "log.txt", "customer;date;quantity;price\na;2024-03-05;1;2\n", {},
     ["log.txt", "only one column", "semicolons"]),
    ("no header", "log.csv", "1,2,3\n4,5,6\n", {}, ["log.csv", "header"]),
    ("fake parquet", "log.parquet", HEADER + GOOD, {}, ["log.parquet", "not a Parquet file"]),
    ("corrupt parquet", "log.csv", b"PAR1" + bytes(range(200)), {},
     ["log.csv", "not a readable Parquet file"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "mapping", "fragments"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_raises_one_line_input_error(
    tmp_path: Path,
    name: str,
    content: str | bytes | None,
    mapping: dict[str, str],
    fragments: list[str],
) -> None:
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        write(tmp_path, name, content)

    with pytest.raises(InputError) as raised:
        read_transaction_log(path, ColumnMapping(**mapping))

    message = str(raised.value)
    assert "\n" not in message and "\r" not in message
    for fragment in fragments:
        assert fragment in message


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pd.DataFrame(
        {"customer": ["a", "b"], "date": ["2024-03-05"] * 2, "qty": [1.0, np.nan], "price": 1.0}
    ).to_parquet(path)

    with pytest.raises(InputError, match=r"log\.parquet, row 2: quantity .* is empty"):
        read_transaction_log(path)


def test_line_numbers_follow_quoted_values_spanning_lines(tmp_path: Path) -> None:
    text = HEADER + '"two\nline name",2024-03-05,1,2\nc2,2024-03-05,oops,2\n'

    with pytest.raises(InputError, match="line 4: quantity 'oops'"):
        read_text(tmp_path, "log.csv", text)


# ------------------------------------------------------------------------------- property

VALID_HEADER = b"customer,date,quantity,price,promo\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda tail: VALID_HEADER + tail),
        st.text(max_size=200).map(lambda tail: VALID_HEADER + tail.encode("utf-8")),
        st.binary(max_size=200).map(lambda tail: b"PAR1" + tail),
    ),
    suffix=st.sampled_from([".csv", ".tsv", ".txt", ".dat", ".parquet", ""]),
)
def test_any_bytes_give_a_log_or_an_input_error(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(content)
        try:
            log = read_transaction_log(path)
        except InputError as error:
            assert "\n" not in str(error)
        else:
            assert isinstance(log, TransactionLog)
            assert list(log.frame.columns) == list(CANONICAL_COLUMNS)
