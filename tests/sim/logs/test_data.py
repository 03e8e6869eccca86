"""Reading transaction logs: formats, column detection, values, and one-line errors."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.logs.data import (
    CANONICAL_COLUMNS,
    COLUMN_ALIASES,
    SINGLE_PRODUCT,
    ColumnMapping,
    ReadOptions,
    TransactionLog,
    read_transaction_log,
    write_transaction_log,
)
from sim.logs.errors import InputError
from sim.profiles.segments import build_profile, compute_rfm


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


def options_from(mapping: dict[str, str]) -> ReadOptions:
    """ReadOptions from one dict: ColumnMapping fields name columns, the rest are options."""
    fields = set(ColumnMapping.__dataclass_fields__)
    columns = ColumnMapping(**{k: v for k, v in mapping.items() if k in fields})
    return ReadOptions(columns=columns, **{k: v for k, v in mapping.items() if k not in fields})


def read_text(directory: Path, name: str, text: str | bytes, **mapping: str) -> TransactionLog:
    return read_transaction_log(write(directory, name, text), options_from(mapping))


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
        "order": "InvoiceNo",
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
     ["log.csv, line 2", "'-1'", "is negative", "--returns drop", "--returns net"]),
    ("negative price", "log.tsv", HEADER.replace(",", "\t") + "c\t2024-03-05\t1\t-0.5\n", {},
     ["log.tsv, line 2", "price '-0.5'", "must be >= 0"]),
    ("NaN price", "log.csv", HEADER + GOOD + GOOD + "c2,2024-03-05,1,NaN\n", {},
     ["log.csv, line 4", "price 'NaN'", "is empty (expected a number)"]),
    ("empty price", "log.csv", HEADER + "c2,2024-03-05,1,\n", {},
     ["log.csv, line 2", "price in column 'price' is empty (expected a number)"]),
    ("inf", "log.csv", HEADER + "c2,2024-03-05,inf,1\n", {},
     ["log.csv, line 2", "quantity 'inf'", "not finite"]),
    ("unparseable date", "log.csv", HEADER + GOOD + "c2,2024-13-45,1,2\n", {},
     ["log.csv, line 3", "date '2024-13-45'", "expected a date such as", "--date-format"]),
    ("ambiguous day/month", "log.csv", HEADER + "c2,12/1/2010 8:26,1,2\nc,3/2/2010,1,2\n", {},
     ["line 2", "'12/1/2010 8:26'", "could be 2010-01-12 (day first) or 2010-12-01 (month first)",
      "--date-format %d/%m/%Y or --date-format %m/%d/%Y"]),
    ("contradictory day/month", "log.csv", HEADER + "c,13.1.2024,1,2\nc,1.13.2024,1,2\n", {},
     ["line 2", "'13.1.2024'", "--date-format %d.%m.%Y or --date-format %m.%d.%Y"]),
    ("date not in --date-format", "log.csv", HEADER + GOOD, {"date_format": "%d/%m/%Y"},
     ["line 2", "'2024-03-05'", "is not a date", "--date-format %d/%m/%Y"]),
    ("ambiguous thousands", "log.csv", "customer;date;quantity;price\nc;2024-03-05;1;1,250\n", {},
     ["line 2", "price '1,250'", "could be 1250", "or 1.250", "--decimal . or --decimal ,"]),
    ("decimal comma told point", "log.csv", "customer;date;quantity;price\nc;2024-03-05;1;1,5\n",
     {"decimal": "."}, ["line 2", "price '1,5'", "is not a number"]),
    ("wrong --encoding", "log.csv", "客户,日期,数量,单价\n张三,2024-03-05,1,2\n".encode("gbk"),
     {"encoding": "utf-8"}, ["log.csv, line 1", "is not utf-8 text", "--encoding"]),
    ("return amount without negative quantity", "log.csv",
     "customer,date,qty,amount\nc,2024-03-05,1,-5\n", {"returns": "net"},
     ["line 2", "amount '-5'", "opposite sign"]),
    ("corrupt xlsx", "log.xlsx", b"PK\x03\x04" + bytes(100), {},
     ["log.xlsx", "is not a readable .xlsx workbook"]),
    ("bad promo", "log.csv", "customer,date,quantity,price,promo\nc,2024-03-05,1,2,maybe\n", {},
     ["log.csv, line 2", "promo 'maybe'", "expected 1/0, true/false"]),
    ("empty customer", "log.csv", HEADER + GOOD + ",2024-03-05,1,2\n", {},
     ["log.csv, line 3", "customer", "is empty", "--anonymous drop"]),
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
    ("single column", "log.txt", "customer:date:quantity:price\na:2024-03-05:1:2\n", {},
     ["log.txt", "only one column", "--sep"]),
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
        read_transaction_log(path, options_from(mapping))

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


# ------------------------------------------------------------- logs as shops export them
#
# The files of issue 20's table, each with its twins (GBK, UTF-8 with BOM, UTF-16,
# semicolons with decimal commas, an .xlsx sheet): each reads to the same log without
# hand editing, or fails with one line that names the option that settles it.

CHINESE = (
    "客户,日期,数量,单价,商品\n"
    "张三,2024-01-03,2,19.9,衬衫\n"
    "李四,2024-01-04,1,129.5,裤子\n"
    "张三,2024-01-10,1,19.9,衬衫\n"
    "王五,2024-01-15,3,59,外套\n"
)
SLASHED = (
    "customer,date,quantity,price\n"
    "a,2024/01/03,1,2.5\n"
    "b,2024/01/13,2,3.25\n"
    "a,2024/02/01,1,2.5\n"
)
EUROPEAN = (
    "customer;date;quantity;price\n1;2024-01-03;2;1,99\n2;2024-01-04;1;12,50\n"
    "1;2024-01-09;1;1,99\n"
)


def online_retail(rows: int = 40) -> str:
    """A small log in the UCI Online Retail layout: month-first dates with a time, C-prefixed
    invoices of returns (negative quantity), and lines without a CustomerID."""
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for i in range(rows):
        day = 1 + i % 28  # days above 12 settle the month-first order
        customer = "" if i % 10 == 9 else str(17850 + i % 4)
        returned = i % 8 == 7
        quantity = -1 if returned else 1 + i % 6
        invoice = f"C{536400 + i}" if returned else str(536400 + i // 2)
        lines.append(
            f"{invoice},{85120 + i % 3},ITEM {i % 3},{quantity},12/{day}/2010 8:{10 + i % 50},"
            f"{1.25 + i % 3},{customer},United Kingdom"
        )
    return "\n".join(lines) + "\n"


def semicolon_twin(text: str) -> str:
    """``text`` as European Excel writes it: semicolons, and decimal commas."""
    return "\n".join(
        ";".join(
            value.replace(".", ",") if _is_decimal(value) else value for value in line.split(",")
        )
        for line in text.splitlines()
    ) + "\n"


def _is_decimal(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return "." in value


def twins(text: str) -> dict[str, tuple[str, bytes]]:
    """File name and bytes of each twin of a UTF-8 CSV ``text``."""
    return {
        "utf-8": ("log.csv", text.encode("utf-8")),
        "gbk": ("log.csv", text.encode("gbk")),
        "bom": ("log.csv", text.encode("utf-8-sig")),
        "utf-16": ("log.txt", text.replace(",", "\t").encode("utf-16")),
        "semicolon": ("log.csv", semicolon_twin(text).encode("utf-8")),
    }


SHOP_FILES = {"chinese": CHINESE, "slashed dates": SLASHED, "online retail": online_retail()}
RETAIL_OPTIONS = {"returns": "drop", "anonymous": "drop"}


def shop_options(kind: str) -> dict[str, str]:
    return RETAIL_OPTIONS if kind == "online retail" else {}


def core(log: TransactionLog) -> pd.DataFrame:
    return log.frame.loc[:, list(CANONICAL_COLUMNS)]


@pytest.mark.parametrize("twin", ["utf-8", "gbk", "bom", "utf-16", "semicolon", "xlsx"])
@pytest.mark.parametrize("kind", list(SHOP_FILES))
def test_shop_exports_and_their_twins_read_alike(tmp_path: Path, kind: str, twin: str) -> None:
    text = SHOP_FILES[kind]
    options = shop_options(kind)
    reference = read_text(tmp_path, "reference.csv", text, **options)
    if twin == "xlsx":
        path = tmp_path / "log.xlsx"
        # A workbook stores typed cells: numbers as numbers, ids as the sheet sees them.
        pd.read_csv(io.StringIO(text), dtype={"CustomerID": "Int64"}).to_excel(
            path, index=False, sheet_name="orders"
        )
    else:
        name, data = twins(text)[twin]
        path = write(tmp_path, name, data)

    log = read_transaction_log(path, options_from(options))

    pd.testing.assert_frame_equal(core(log), core(reference))
    assert build_profile(log, k=1).customers["customer"].tolist() == sorted(
        log.frame["customer"].unique()
    )


def test_the_summary_names_encoding_delimiter_and_dates(tmp_path: Path) -> None:
    gbk = read_text(tmp_path, "gbk.csv", CHINESE.encode("gbk"))
    european = read_text(tmp_path, "eu.csv", EUROPEAN.replace("12,50", "€12,50"))

    assert (gbk.reading.encoding, gbk.reading.separator) == ("gb18030", ",")
    assert gbk.reading.date_forms == ("YYYY-MM-DD",)
    assert "gb18030" in gbk.reading.describe()
    assert (european.reading.separator, european.reading.decimal) == (";", ",")
    assert european.reading.currency_stripped == 1
    assert european.frame["unit_price"].tolist() == [1.99, 12.5, 1.99]
    assert "stripped currency symbols from 1 values" in european.reading.describe()


def test_chinese_headers_are_recognised(tmp_path: Path) -> None:
    log = read_text(
        tmp_path,
        "orders.csv",
        "订单号,会员ID,付款时间,商品编码,购买数量,成交价,实付金额,是否促销\n"
        "A1,u1,2024年1月3日 10:20,P1,2,19.9,39.8,是\n"
        "A2,u2,2024年1月13日,P2,1,29.9,29.9,否\n",
    )

    assert log.column_sources == {
        "order": "订单号", "customer": "会员ID", "date": "付款时间", "product": "商品编码",
        "quantity": "购买数量", "unit_price": "成交价", "promo": "是否促销",
    }  # fmt: skip
    assert log.frame["date"].dt.day.tolist() == [3, 13]
    assert log.frame["promo"].tolist() == [True, False]


def test_online_retail_needs_options_that_the_error_names(tmp_path: Path) -> None:
    text = online_retail()
    path = write(tmp_path, "retail.csv", text)
    with pytest.raises(InputError, match="--anonymous drop"):
        read_transaction_log(path)
    with pytest.raises(InputError, match="--returns drop or --returns net"):
        read_transaction_log(path, ReadOptions(anonymous="drop"))

    log = read_transaction_log(path, ReadOptions(**RETAIL_OPTIONS))

    frame = pd.read_csv(io.StringIO(text), dtype={"CustomerID": str, "InvoiceNo": str})
    anonymous = frame["CustomerID"].isna()
    returns = frame["Quantity"] < 0
    assert log.reading.anonymous_dropped == anonymous.sum()
    assert log.reading.returns_dropped == (returns & ~anonymous).sum()
    assert log.n_rows == (~anonymous & ~returns).sum()
    assert log.reading.date_forms[0].startswith("%m/%d/%Y (month first")
    assert log.frame["date"].min() == pd.Timestamp("2010-12-01")
    assert log.has_orders


def test_frequency_counts_orders_when_asked(tmp_path: Path) -> None:
    log = read_text(
        tmp_path, "orders.csv",
        "order,customer,date,quantity,price\n"
        "o1,a,2024-01-03,1,2\no1,a,2024-01-03,1,3\no2,a,2024-01-03,1,2\no3,a,2024-01-05,1,2\n"
        "o4,b,2024-01-03,1,2\n",
    )  # fmt: skip

    by_days = compute_rfm(log)
    by_orders = compute_rfm(log, frequency="orders")

    assert by_days["frequency"].to_dict() == {"a": 2, "b": 1}
    assert by_orders["frequency"].to_dict() == {"a": 3, "b": 1}
    assert by_orders.loc["a", "monetary"] == pytest.approx(9 / 3)
    without_orders = read_text(tmp_path, "plain.csv", HEADER + GOOD)
    with pytest.raises(InputError, match="--frequency orders needs an order id column"):
        compute_rfm(without_orders, frequency="orders")


def test_returns_net_against_the_latest_earlier_purchases(tmp_path: Path) -> None:
    log = read_text(
        tmp_path, "log.csv",
        "customer,date,product,quantity,price\n"
        "a,2024-01-01,p,3,2\na,2024-01-02,p,2,2.5\na,2024-01-03,p,-4,2.5\n"
        "a,2024-01-03,q,-1,9\nb,2024-01-02,p,1,2\n",
        returns="net",
    )  # fmt: skip

    assert log.frame[["customer", "product", "quantity", "amount"]].values.tolist() == [
        ["a", "p", 1.0, 2.0],  # 3 bought, 2 of them returned (after the 2 of the next day)
        ["b", "p", 1.0, 2.0],
    ]
    assert log.reading.returns_netted == 2
    assert log.reading.returned_units_unmatched == 1.0  # q was never bought in the log


def test_spreadsheet_sheet_by_name_or_index(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["not a log"]}).to_excel(writer, sheet_name="readme", index=False)
        canonical_frame().to_excel(writer, sheet_name="sales", index=False)

    by_name = read_transaction_log(path, ReadOptions(sheet="sales"))
    by_index = read_transaction_log(path, ReadOptions(sheet="1"))

    pd.testing.assert_frame_equal(by_name.frame, canonical_frame())
    pd.testing.assert_frame_equal(by_index.frame, canonical_frame())
    assert by_name.reading.sheet == "sales"
    with pytest.raises(InputError, match=r"book\.xlsx: no sheet 'sale' .*sheets are: readme, sale"):
        read_transaction_log(path, ReadOptions(sheet="sale"))
    with pytest.raises(InputError, match="only one column"):
        read_transaction_log(path)


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("gb18030", "客户,日期,数量,单价\n张三,2024-01-03,2,19.9\n李四,2024-01-04,1,9.9\n"),
        ("big5", "客戶,日期,數量,單價\n陳一,2024/01/03,2,19.9\n"),
        ("shift_jis", "顧客,日付,数量,単価\n田中,2024/01/03,2,1990\n"),
        ("cp1252", "customer,date,quantity,price\nJosé,2024-01-03,1,2\nMüller,2024-01-03,1,2\n"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    log = read_text(tmp_path, "log.csv", text.encode(encoding))

    assert log.reading.encoding == encoding
    expected = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert sorted(log.frame["customer"]) == sorted(expected)


def test_utf16_without_a_mark_and_an_explicit_encoding(tmp_path: Path) -> None:
    text = "customer\tdate\tquantity\tprice\nJosé\t2024-01-03\t1\t2\n"
    wide = read_text(tmp_path, "wide.txt", text.encode("utf-16-le"))
    told = read_text(tmp_path, "told.csv", text.encode("latin-1"), encoding="latin-1")

    assert wide.reading.encoding == "utf-16-le"
    assert wide.frame["customer"].tolist() == told.frame["customer"].tolist() == ["José"]


@pytest.mark.parametrize(
    ("separator", "sep_option"),
    [("|", None), ("\t", None), (";", None), ("  ", None), (":", ":")],
)
def test_delimiters_are_sniffed_or_told(
    tmp_path: Path, separator: str, sep_option: str | None
) -> None:
    text = HEADER.replace(",", separator) + GOOD.replace(",", separator)
    options = {"sep": sep_option} if sep_option else {}

    log = read_text(tmp_path, "log.txt", text, **options)

    assert log.frame[["customer", "quantity", "unit_price"]].values.tolist() == [["c1", 1.0, 2.0]]


def test_promo_columns_take_discount_amounts_and_chinese_flags(tmp_path: Path) -> None:
    discounts = read_text(
        tmp_path, "d.csv",
        "customer,date,quantity,price,优惠\nc,2024-01-03,1,2,5.00\nc,2024-01-04,1,2,0\n",
    )
    flags = read_text(
        tmp_path, "f.csv",
        "customer,date,quantity,price,促销\nc,2024-01-03,1,2,是\nc,2024-01-04,1,2,否\n",
    )

    assert discounts.frame["promo"].tolist() == flags.frame["promo"].tolist() == [True, False]


def test_products_that_need_a_second_look_are_named(tmp_path: Path) -> None:
    rows = ["customer,date,product,quantity,price"]
    for i in range(40):
        rows.append(f"c{i % 5},2024-01-{1 + i % 28:02d},shirt,{1 + i % 3},{9.9 + (i % 2)}")
        rows.append(f"c{i % 5},2024-01-{1 + i % 28:02d},fuel,{10_000 + i},0.03")
        rows.append(f"c{i % 5},2024-01-{1 + i % 28:02d},socks,{1 + i % 2},2.5")

    log = read_text(tmp_path, "log.csv", "\n".join(rows) + "\n")

    quantity_warning, price_warning = log.reading.warnings
    assert "orders of magnitude" in quantity_warning and "'fuel'" in quantity_warning
    assert "'shirt'" not in quantity_warning
    assert "one unit price" in price_warning and "'socks'" in price_warning
    assert "'shirt'" not in price_warning
    assert read_text(tmp_path, "clean.csv", HEADER + GOOD).reading.warnings == ()


def test_readme_reproduces_the_column_alias_table() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in COLUMN_ALIASES:
            rows[cells[0]] = [
                name.strip(" `") for cell in cells[1:] for name in cell.split(",") if name.strip()
            ]

    assert rows == {field: list(names) for field, names in COLUMN_ALIASES.items()}
