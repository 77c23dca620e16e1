fn main() {
    println!("azp-operator: not yet implemented");
}
