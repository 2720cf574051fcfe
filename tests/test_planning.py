"""Planning new provision on the real data: Glasgow's data zones, SIMD, every live postcode and
Give Food's food banks (the shared ``scotland_url`` database, on both backends).

The optimum is checked against an exhaustive search and against spopt's MCLP (PuLP/CBC, an
independent MILP); the people each site newly reaches against a brute-force count with straight
distances in British National Grid computed here with pyproj, not with the library's k-d trees.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pulp
import pytest
from pyproj import Transformer
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from spopt.locate import MCLP

from assetmap import gaps, taxonomy
from assetmap.db import connect
from assetmap.planning import MAX_SITES, PlanError, PlanQuestion, plan, reach_metres, reach_of, sites_frame
from tests.cli import run_assetmap

TO_BNG = Transformer.from_crs(4326, 27700, always_xy=True)
SMALL_REACH = 500.0


def _bng(lon, lat):
    x, y = TO_BNG.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y])


def _people(engine, codes):
    """Where the locality's people live (the shared definition) and the food venues, as plain arrays."""
    with engine.connect() as conn:
        places = gaps.demand_points(conn, "datazone2011", codes, None)
        offer = gaps.supply(conn, taxonomy.load())
    food = offer.for_term("food")
    people = np.column_stack([places.points_x, places.points_y])
    venues = np.column_stack([offer.x[food], offer.y[food]])
    deciles = places.frame["deprivation_decile"].to_numpy(dtype=float)[places.points_area]
    areas = places.frame["area_code"].to_numpy(dtype=object)[places.points_area]
    return people, places.points_population, venues, deciles, areas


def _distances(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))


@pytest.fixture
def engine(scotland_url):
    engine = connect(scotland_url)
    yield engine
    engine.dispose()


@pytest.fixture
def around_far_zone(engine):
    """Glasgow's data zones, nearest first, from one where people are far from any food bank."""
    with engine.connect() as conn:
        from assetmap import localities

        glasgow = localities.resolve(conn, "Glasgow City")
        places = gaps.demand_points(conn, "datazone2011", glasgow.area_codes, None)
    people, weight, venues, _, areas = _people(engine, glasgow.area_codes)
    far = _distances(people, venues).min(axis=1)
    start = areas[int(np.argmax(np.where(far < 5000, far, 0)))]
    centroids = places.frame.geometry.to_crs(27700).centroid
    centres = np.column_stack([centroids.x, centroids.y])
    own = centres[list(places.frame["area_code"]).index(start)]
    return list(places.frame["area_code"].iloc[np.argsort(((centres - own) ** 2).sum(axis=1))])


@pytest.fixture
def small_locality(around_far_zone):
    """Six Glasgow data zones around one where people are far from any food bank."""
    return sorted(around_far_zone[:6])


def _exhaustive(engine, codes, sites, reach, deciles=None):
    """The best value over every choice of ``sites`` candidate postcodes, by brute force."""
    people, weight, venues, decile, _ = _people(engine, codes)
    target = np.ones(len(people), bool) if deciles is None else np.nan_to_num(decile, nan=99) <= deciles
    unreached = target & (_distances(people, venues).min(axis=1) > reach)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT postcode, longitude, latitude, area_code FROM postcode WHERE terminated IS NULL "
            "AND latitude IS NOT NULL").all()
    candidates = [r for r in rows if r[3] in set(codes)]
    where = _bng([r[1] for r in candidates], [r[2] for r in candidates])
    covers = _distances(where, people[unreached]) <= reach
    w = weight[unreached]
    masks = {sum(1 << int(i) for i in np.nonzero(row)[0]) for row in covers if row.any()}
    best = 0.0
    for combo in itertools.combinations(sorted(masks), min(sites, len(masks))):
        union = 0
        for mask in combo:
            union |= mask
        best = max(best, float(sum(w[i] for i in range(len(w)) if union >> i & 1)))
    return best, where, people[unreached], w


def test_small_instance_optimum_equals_exhaustive_search_and_spopt(engine, small_locality):
    question = PlanQuestion(need="food", locality=",".join(small_locality), sites=3, metres=SMALL_REACH)
    result = plan(engine, question)
    assert result.optimal and result.gap == 0
    best, candidates, people, weight = _exhaustive(engine, small_locality, 3, SMALL_REACH)
    assert best > 0 and result.objective == pytest.approx(best, rel=1e-9)
    model = MCLP.from_cost_matrix(_distances(people, candidates), weight, service_radius=SMALL_REACH,
                                  p_facilities=3)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    assert pulp.value(model.problem.objective) == pytest.approx(result.objective, rel=1e-6)
    assert result.greedy_objective <= result.objective + 1e-6 <= result.lp_bound + 1e-3
    assert sum(s.newly_reached for s in result.sites) == pytest.approx(result.people_reached, abs=len(result.sites))


def _independent_milp(engine, codes, sites, reach):
    """The optimum by SciPy's MILP (HiGHS's own branch and cut) on a model built here: every
    candidate postcode against every unreached person by straight BNG distance, nothing merged."""
    people, weight, venues, _, _ = _people(engine, codes)
    unreached = _distances(people, venues).min(axis=1) > reach
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT longitude, latitude, area_code FROM postcode WHERE terminated IS NULL "
            "AND latitude IS NOT NULL").all()
    inside = set(codes)
    candidates = _bng([r[0] for r in rows if r[2] in inside], [r[1] for r in rows if r[2] in inside])
    cover = sparse.csr_matrix((_distances(candidates, people[unreached]) <= reach).astype(float))
    k, m = cover.shape
    found = milp(np.concatenate([np.zeros(k), -weight[unreached]]),
                 constraints=[LinearConstraint(sparse.hstack([-cover.T, sparse.identity(m)]), -np.inf, 0),
                              LinearConstraint(np.concatenate([np.ones(k), np.zeros(m)])[None, :], -np.inf, sites)],
                 bounds=Bounds(0, 1), integrality=np.concatenate([np.ones(k), np.zeros(m)]),
                 options={"mip_rel_gap": 1e-9})
    assert found.status == 0
    return -float(found.fun)


def test_an_optimum_the_lp_bound_does_not_prove_equals_an_independent_milp(engine, around_far_zone):
    """Thirty data zones, four sites within 600 m: the linear relaxation is above the optimum,
    so "proved optimal" rests on the branch and bound; an independent MILP must agree."""
    codes = sorted(around_far_zone[:30])
    result = plan(engine, PlanQuestion(need="food", locality=",".join(codes), sites=4, metres=600.0))
    assert result.lp_bound > result.objective * (1 + 1e-6), "pick an instance where the LP is above the optimum"
    assert result.optimal and result.gap == 0
    assert result.objective == pytest.approx(_independent_milp(engine, codes, 4, 600.0), rel=1e-9)


def test_deprived_deciles_count_only_people_in_those_deciles(engine, small_locality):
    people, weight, venues, decile, areas = _people(engine, small_locality)
    deciles = int(np.nanmin(decile))
    question = PlanQuestion(need="food", locality=",".join(small_locality), sites=2, metres=SMALL_REACH,
                            deprived_deciles=deciles)
    result = plan(engine, question)
    inside = np.nan_to_num(decile, nan=99) <= deciles
    assert result.target_people == round(float(weight[inside].sum()))
    assert result.target_people < round(float(weight.sum()))
    best, *_ = _exhaustive(engine, small_locality, 2, SMALL_REACH, deciles)
    assert result.objective == pytest.approx(best, rel=1e-9)
    allowed = set(areas[inside])
    for site in result.sites:
        found = reach_of(engine, question, site.longitude, site.latitude)
        assert set(found.areas) <= allowed


def test_glasgow_food_plan_and_its_sites_newly_reached_by_brute_force(engine):
    question = PlanQuestion(need="food", locality="Glasgow City", sites=5)
    result = plan(engine, question)
    assert len(result.sites) == 5
    assert result.objective >= result.greedy_objective - 1e-6
    assert result.objective <= result.lp_bound * (1 + 1e-9)
    assert (result.lp_bound - result.objective) / result.lp_bound == pytest.approx(result.lp_gap, abs=1e-9)
    assert result.gap <= result.lp_gap + 1e-12
    if result.optimal:
        assert result.gap == 0
    else:
        assert result.gap > 0 and any("Not proved" in n for n in result.notes)
    # Brute force: who has no food bank within reach today, and whom each site adds in order.
    with engine.connect() as conn:
        from assetmap import localities

        codes = localities.resolve(conn, "Glasgow City").area_codes
    people, weight, venues, _, _ = _people(engine, codes)
    reach = reach_metres(question)
    unreached = _distances(people, venues).min(axis=1) > reach
    assert result.unreached_people == pytest.approx(float(weight[unreached].sum()), rel=1e-3)
    left = unreached.copy()
    for site in result.sites:
        near = np.sqrt(((people - _bng([site.longitude], [site.latitude])) ** 2).sum(axis=1)) <= reach
        assert site.newly_reached == pytest.approx(float(weight[left & near].sum()), abs=1)
        assert site.reach_alone == pytest.approx(float(weight[unreached & near].sum()), abs=1)
        left &= ~near
    assert result.people_reached == pytest.approx(float(weight[unreached & ~left].sum()), abs=1)
    frame = sites_frame(result)
    assert list(frame["key"]) == [s.key for s in result.sites] and frame.crs.to_epsg() == 4326
    # what if: a point placed by hand, beside the first site
    first, second = result.sites[0], result.sites[1]
    found = reach_of(engine, question, second.longitude, second.latitude, placed=[(first.longitude, first.latitude)])
    point = _bng([second.longitude], [second.latitude])
    near = np.sqrt(((people - point) ** 2).sum(axis=1)) <= reach
    before = np.sqrt(((people - _bng([first.longitude], [first.latitude])) ** 2).sum(axis=1)) <= reach
    assert found.people == pytest.approx(float(weight[near].sum()), abs=1)
    assert found.unreached_people == pytest.approx(float(weight[near & unreached & ~before].sum()), abs=1)


def test_twenty_glasgow_sites_reach_more_than_greedy_and_no_single_move_reaches_more(engine):
    """Greedy's early picks crowd out better places: the plan moves sites while that reaches more
    people, so no candidate postcode put in place of one of its sites reaches more (a sample of
    candidates, counted by brute force)."""
    question = PlanQuestion(need="food", locality="Glasgow City", sites=20)
    result = plan(engine, question)
    assert len(result.sites) == 20
    assert result.objective > result.greedy_objective * 1.005
    assert result.objective <= result.lp_bound * (1 + 1e-9)
    with engine.connect() as conn:
        from assetmap import localities

        codes = localities.resolve(conn, "Glasgow City").area_codes
        rows = conn.exec_driver_sql("SELECT longitude, latitude, area_code FROM postcode WHERE terminated IS NULL "
                                    "AND latitude IS NOT NULL").all()
    people, weight, venues, _, _ = _people(engine, codes)
    reach = reach_metres(question)
    unreached = _distances(people, venues).min(axis=1) > reach
    people, weight = people[unreached], weight[unreached]
    chosen = _bng([s.longitude for s in result.sites], [s.latitude for s in result.sites])
    near = _distances(chosen, people) <= reach
    assert result.objective == pytest.approx(float(weight[near.any(axis=0)].sum()), rel=1e-9)
    inside = set(codes)
    candidates = [r for r in rows if r[2] in inside]
    sample = np.random.default_rng(16).choice(len(candidates), 300, replace=False)
    others = _distances(_bng([candidates[i][0] for i in sample], [candidates[i][1] for i in sample]), people) <= reach
    for position in range(len(chosen)):
        rest = np.delete(near, position, axis=0).any(axis=0)
        moved = (others | rest).astype(float) @ weight
        assert moved.max() <= result.objective * (1 + 1e-9)


def test_bad_questions_are_refused_in_one_plain_sentence(engine):
    for question in [PlanQuestion(need="zzqqxx", locality="Glasgow City"),
                     PlanQuestion(need="food", locality="Atlantis"),
                     PlanQuestion(need="food", locality="Glasgow City", sites=0),
                     PlanQuestion(need="food", locality="Glasgow City", sites=MAX_SITES + 1)]:
        with pytest.raises(PlanError) as caught:
            plan(engine, question)
        assert "\n" not in str(caught.value)


def test_plan_command(scotland_url, small_locality, tmp_path):
    env = {"ASSETMAP_DATABASE_URL": scotland_url}
    common = ["--need", "food", "--locality", ",".join(small_locality), "--catchment-metres", str(SMALL_REACH)]
    shown = run_assetmap("plan", *common, "--sites", "3", "--out", str(tmp_path / "sites.csv"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "newly reached" in shown.stdout and "proved optimal" in shown.stdout and "LP bound" in shown.stdout
    assert "finding who" in shown.stderr  # progress on stderr
    as_json = run_assetmap("plan", *common, "--sites", "3", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["sites"] and data["optimal"] is True
    assert data["sites"][0]["key"] in shown.stdout
    assert (tmp_path / "sites.csv").read_text().startswith("order,key,label")
    for bad in [["--need", "zzqqxx"], ["--need", "food", "--locality", "Atlantis"],
                [*common, "--sites", str(MAX_SITES + 1)], [*common, "--catchment-minutes", "10"]]:
        refused = run_assetmap("plan", *bad, env=env)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
