//! Ward boundaries for the hotspot map: read once from a GeoJSON file
//! (`--wards FILE.geojson`), projected to an SVG view box here, so the map
//! is drawn on the server and nothing (no tiles, no script) is fetched when
//! a page is shown.
//!
//! The file is a GeoJSON `FeatureCollection` (RFC 7946: longitude, latitude
//! in WGS 84) whose features are `Polygon`s or `MultiPolygon`s, each naming
//! its ward in the property `name` as the events' `ward` field names it.
//! Longitude and latitude are projected equirectangularly, longitude scaled
//! by the cosine of the middle latitude: over a borough, that is as good as
//! any projection and needs no library.

use std::path::Path;

use serde::Deserialize;

/// Why ward boundaries could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not GeoJSON of the shape expected.
    #[error("not a GeoJSON FeatureCollection of ward polygons: {0}")]
    Json(#[from] serde_json::Error),
    /// A feature has no `name` property.
    #[error("feature {0} has no `name` property naming its ward")]
    Unnamed(usize),
    /// A feature's geometry is not a polygon or multipolygon.
    #[error("feature {0} ({1}) is not a Polygon or MultiPolygon")]
    NotAPolygon(usize, String),
    /// A coordinate is not a longitude and latitude.
    #[error("feature {0} ({1}) has a position that is not a longitude and latitude")]
    BadPosition(usize, String),
    /// No ward at all.
    #[error("the file has no wards")]
    Empty,
}

#[derive(Deserialize)]
struct Collection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    properties: Option<serde_json::Map<String, serde_json::Value>>,
    geometry: Option<Geometry>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: serde_json::Value,
}

/// A ring of positions, longitude then latitude.
type Ring = Vec<(f64, f64)>;

/// One ward: its name and the rings of its polygons (outer rings and holes
/// alike: the map fills them with the even-odd rule).
#[derive(Debug, Clone)]
struct Ward {
    name: String,
    rings: Vec<Ring>,
}

/// The partnership's ward boundaries.
#[derive(Debug, Clone)]
pub struct Wards {
    wards: Vec<Ward>,
}

/// One ward as the map draws it.
pub struct Shape {
    /// The ward's name.
    pub name: String,
    /// SVG path data in the map's view box.
    pub path: String,
}

/// The projected map: its view box and a shape per ward, in the file's order.
pub struct Map {
    /// The view box's width.
    pub width: f64,
    /// The view box's height.
    pub height: f64,
    /// The wards.
    pub shapes: Vec<Shape>,
}

/// A position's two numbers, if it is one.
fn position(value: &serde_json::Value) -> Option<(f64, f64)> {
    let pair = value.as_array()?;
    let (lon, lat) = (pair.first()?.as_f64()?, pair.get(1)?.as_f64()?);
    ((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)).then_some((lon, lat))
}

/// A polygon's rings.
fn polygon(value: &serde_json::Value) -> Option<Vec<Ring>> {
    value.as_array()?.iter().map(|ring| ring.as_array()?.iter().map(position).collect()).collect()
}

impl Wards {
    /// Reads the GeoJSON file at `path`.
    pub fn load(path: &Path) -> Result<Wards, GeoError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GeoError::Read { path: path.display().to_string(), source })?;
        Wards::parse(&text)
    }

    /// Parses a GeoJSON FeatureCollection of named ward polygons.
    pub fn parse(text: &str) -> Result<Wards, GeoError> {
        let collection: Collection = serde_json::from_str(text)?;
        if collection.kind != "FeatureCollection" {
            return Err(GeoError::Json(serde::de::Error::custom(format!(
                "a {}, not a FeatureCollection",
                collection.kind
            ))));
        }
        let mut wards = Vec::new();
        for (i, feature) in collection.features.into_iter().enumerate() {
            let name = feature
                .properties
                .as_ref()
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .ok_or(GeoError::Unnamed(i))?;
            let Some(geometry) = feature.geometry else { return Err(GeoError::NotAPolygon(i, name)) };
            let rings = match geometry.kind.as_str() {
                "Polygon" => polygon(&geometry.coordinates),
                "MultiPolygon" => geometry
                    .coordinates
                    .as_array()
                    .and_then(|polygons| polygons.iter().map(polygon).collect::<Option<Vec<_>>>())
                    .map(|polygons| polygons.concat()),
                _ => return Err(GeoError::NotAPolygon(i, name)),
            };
            match rings {
                Some(rings) if rings.iter().all(|r| r.len() >= 3) && !rings.is_empty() => {
                    wards.push(Ward { name, rings })
                }
                _ => return Err(GeoError::BadPosition(i, name)),
            }
        }
        if wards.is_empty() {
            return Err(GeoError::Empty);
        }
        Ok(Wards { wards })
    }

    /// The wards' names, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.wards.iter().map(|w| w.name.as_str())
    }

    /// The wards projected into a view box `width` wide (and as high as the
    /// area's shape needs), with a margin of `margin` all round.
    pub fn map(&self, width: f64, margin: f64) -> Map {
        let all = || self.wards.iter().flat_map(|w| w.rings.iter().flatten());
        let fold = |f: fn(f64, f64) -> f64, start: f64, pick: fn(&(f64, f64)) -> f64| all().map(pick).fold(start, f);
        let (west, east) = (fold(f64::min, f64::MAX, |p| p.0), fold(f64::max, f64::MIN, |p| p.0));
        let (south, north) = (fold(f64::min, f64::MAX, |p| p.1), fold(f64::max, f64::MIN, |p| p.1));
        let squash = ((south + north) / 2.0).to_radians().cos();
        let (span_x, span_y) = (((east - west) * squash).max(f64::EPSILON), (north - south).max(f64::EPSILON));
        let scale = (width - 2.0 * margin) / span_x;
        let height = span_y * scale + 2.0 * margin;
        let project = |(lon, lat): (f64, f64)| ((lon - west) * squash * scale + margin, (north - lat) * scale + margin);
        let shapes = self
            .wards
            .iter()
            .map(|ward| {
                let rings: Vec<String> = ward
                    .rings
                    .iter()
                    .map(|ring| {
                        let points: Vec<String> = ring
                            .iter()
                            .map(|p| {
                                let (x, y) = project(*p);
                                format!("{x:.1},{y:.1}")
                            })
                            .collect();
                        format!("M{}Z", points.join("L"))
                    })
                    .collect();
                Shape { name: ward.name.clone(), path: rings.concat() }
            })
            .collect();
        Map { width, height, shapes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"name": "North"},
       "geometry": {"type": "Polygon", "coordinates": [[[0.0, 51.0], [1.0, 51.0], [1.0, 52.0], [0.0, 52.0], [0.0, 51.0]]]}},
      {"type": "Feature", "properties": {"name": "Islands"},
       "geometry": {"type": "MultiPolygon", "coordinates": [
         [[[0.0, 50.0], [0.5, 50.0], [0.5, 51.0], [0.0, 50.0]]],
         [[[0.5, 50.0], [1.0, 50.0], [1.0, 51.0], [0.5, 50.0]]]]}}]}"#;

    #[test]
    fn wards_are_projected_north_up_into_the_view_box() {
        let wards = Wards::parse(TWO).unwrap();
        assert_eq!(wards.names().collect::<Vec<_>>(), ["North", "Islands"]);
        let map = wards.map(100.0, 0.0);
        // Two degrees of latitude tall, one of longitude at cos(51°) wide.
        let squash = 51f64.to_radians().cos();
        assert!((map.height - 200.0 / squash).abs() < 1e-6, "{}", map.height);
        let north = &map.shapes[0];
        let middle = map.height / 2.0;
        assert_eq!(north.path, format!("M0.0,{middle:.1}L100.0,{middle:.1}L100.0,0.0L0.0,0.0L0.0,{middle:.1}Z"));
        assert_eq!(north.path.matches('M').count(), 1);
        // A multipolygon is one path of two rings, at the bottom.
        let islands = &map.shapes[1];
        assert_eq!(islands.path.matches('M').count(), 2, "{}", islands.path);
        assert!(islands.path.starts_with(&format!("M0.0,{:.1}", map.height)), "{}", islands.path);
    }

    #[test]
    fn the_illustrative_boundaries_draw_every_simulated_ward() {
        let wards = Wards::parse(include_str!("../../../deploy/wards/harrow-illustrative.geojson")).unwrap();
        let map = wards.map(640.0, 8.0);
        assert_eq!(map.shapes.len(), 22);
        assert!(wards.names().any(|n| n == "Wealdstone") && wards.names().any(|n| n == "Harrow on the Hill"));
        assert!(map.height > 100.0 && map.height < 640.0, "{}", map.height);
    }

    #[test]
    fn files_that_are_not_named_ward_polygons_are_refused() {
        let point = TWO.replace(r#""type": "Polygon""#, r#""type": "Point""#);
        assert!(matches!(Wards::parse(&point), Err(GeoError::NotAPolygon(0, _))));
        let unnamed = TWO.replace(r#""name": "North""#, r#""id": "North""#);
        assert!(matches!(Wards::parse(&unnamed), Err(GeoError::Unnamed(0))));
        let off_the_earth = TWO.replace("[1.0, 52.0]", "[1.0, 152.0]");
        assert!(matches!(Wards::parse(&off_the_earth), Err(GeoError::BadPosition(0, _))));
        assert!(matches!(Wards::parse(r#"{"type": "FeatureCollection", "features": []}"#), Err(GeoError::Empty)));
        assert!(Wards::parse(r#"{"type": "Feature", "features": []}"#).is_err());
        assert!(Wards::parse("not json").is_err());
    }
}
