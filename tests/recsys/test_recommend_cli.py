"""``promosim recommend`` and ``promosim profile --cf`` as a user drives them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def invoke(*args: str | Path | int | float):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def log_csv(small_market) -> Path:
    return Path(small_market.log_path)


def test_evaluate_json_lists_the_baseline_first(log_csv) -> None:
    result = invoke("recommend", log_csv, "--evaluate", "--json", "--k", 5)
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)["evaluation"]
    assert evaluation["kind"] == "ranking"
    assert evaluation["k"] == 5
    names = [row["model"] for row in evaluation["models"]]
    assert names == ["popularity", "repeat", "item_knn", "user_knn", "als", "hybrid", "tifu_knn"]
    best = max(evaluation["models"], key=lambda row: row["ndcg"])["model"]
    assert evaluation["best"] == best
    assert all(0 <= row["ndcg"] <= 1 for row in evaluation["models"])


def test_evaluate_prints_one_table(log_csv) -> None:
    result = invoke("recommend", log_csv, "--evaluate", "--model", "als", "--k", 5)
    assert result.exit_code == 0, result.output
    assert "NDCG@5" in result.stdout and "vs repeat" in result.stdout
    assert result.stdout.index("popularity") < result.stdout.index("repeat")
    assert "best by NDCG" in result.stdout


def test_out_writes_top_k_per_customer(log_csv, tmp_path) -> None:
    out = tmp_path / "recs.csv"
    result = invoke("recommend", log_csv, "--out", out, "--k", 3, "--seed", 1)
    assert result.exit_code == 0, result.output
    lists = pd.read_csv(out)
    assert list(lists.columns) == ["customer", "rank", "product", "score"]
    assert lists.groupby("customer")["rank"].max().max() == 3
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no partial file left
    # The same seed gives the same file.
    again = tmp_path / "again.parquet"
    assert invoke("recommend", log_csv, "--out", again, "--k", 3, "--seed", 1).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again), lists, check_dtype=False)


def test_rules_on_a_hand_made_log(tmp_path) -> None:
    log = tmp_path / "baskets.csv"
    log.write_text(
        "customer,date,product,quantity,price\n"
        "c1,2024-01-01,milk,1,1.0\nc1,2024-01-01,bread,1,2.0\n"
        "c1,2024-01-02,milk,1,1.0\nc1,2024-01-02,bread,1,2.0\nc1,2024-01-02,eggs,1,3.0\n"
        "c2,2024-01-01,milk,1,1.0\nc3,2024-01-01,bread,1,2.0\nc3,2024-01-01,eggs,1,3.0\n"
    )
    result = invoke("recommend", log, "--rules", "--min-support", 0.5, "--json")
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)["rules"]
    assert [(r["antecedents"], r["consequents"]) for r in rules] == [
        ("eggs", "bread"),
        ("bread", "eggs"),
    ]
    assert rules[0]["lift"] == pytest.approx(4 / 3)
    table = invoke("recommend", log, "--rules", "--min-support", 0.5)
    assert table.exit_code == 0, table.output
    assert "cross-sell rules" in table.stdout


def test_ratings_are_evaluated_by_rmse(tmp_path) -> None:
    ratings = tmp_path / "ratings.csv"
    rows = [f"u{u},p{p},{1 + (u + p) % 5}" for u in range(12) for p in range(6)]
    ratings.write_text("customer,product,rating\n" + "\n".join(rows) + "\n")
    result = invoke("recommend", ratings, "--evaluate", "--json")
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)["evaluation"]
    assert evaluation["kind"] == "ratings"
    assert [row["model"] for row in evaluation["models"]] == ["popularity", "item_knn", "user_knn"]


def test_profile_cf_writes_affinity(log_csv, tmp_path) -> None:
    out = tmp_path / "profile"
    result = invoke("profile", log_csv, "--out", out, "--cf", "--k", 3, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["k"] == 3
    affinity = pd.read_parquet(out / "affinity.parquet")
    assert affinity["segment"].tolist() == [0, 1, 2]
    assert affinity.drop(columns="segment").max(axis=1).tolist() == pytest.approx([1.0] * 3)
    assert not (tmp_path / "plain" / "affinity.parquet").exists()
    assert invoke("profile", log_csv, "--out", tmp_path / "plain", "--k", 3).exit_code == 0
    assert not (tmp_path / "plain" / "affinity.parquet").exists()  # --no-cf is the default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--k", 0, "--out", "recs.csv"), "k must be a whole number >= 1"),
        (("--k", -3, "--evaluate"), "k must be a whole number >= 1"),
        (("--model", "alss", "--evaluate"), "unknown model 'alss' (did you mean 'als'?)"),
        (("--out", "recs.xlsx"), "unknown format '.xlsx'"),
        ((), "nothing to do"),
        (("--model", "content", "--evaluate"), "needs a product table"),
    ],
)
def test_bad_input_exits_2_with_one_line(log_csv, tmp_path, args, message) -> None:
    result = invoke("recommend", log_csv, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_product_table_adds_the_content_model(log_csv, small_spec, tmp_path) -> None:
    from sim.market.synth import plant_market, product_ids

    planted = plant_market(small_spec)
    products = tmp_path / "products.csv"
    pd.DataFrame(
        {
            "product": product_ids(small_spec.products),
            "category": planted.category,
            "list_price": planted.list_price,
        }
    ).to_csv(products, index=False)
    result = invoke(
        "recommend", log_csv, "--evaluate", "--json", "--k", 5, "--products", products,
        "--model", "content,hybrid",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [row["model"] for row in json.loads(result.stdout)["evaluation"]["models"]]
    assert names == ["popularity", "repeat", "content", "hybrid"]
    out = tmp_path / "content.parquet"
    assert (
        invoke(
            "recommend", log_csv, "--products", products, "--model", "content", "--out", out
        ).exit_code
        == 0
    )
    assert len(pd.read_parquet(out)) > 0


def test_ratings_get_a_rating_model_by_default(tmp_path) -> None:
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("customer,product,rating\nu,a,5\nu,b,1\nv,a,4\nv,c,2\nw,b,3\nw,c,5\n")
    out = tmp_path / "recs.csv"
    result = invoke("recommend", ratings, "--out", out, "--k", 2)
    assert result.exit_code == 0, result.output
    assert "user_knn" in result.stdout
    assert set(pd.read_csv(out)["customer"]) == {"u", "v", "w"}
